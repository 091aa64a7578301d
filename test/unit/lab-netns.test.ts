import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostLink, labAddress } from '../../lab/netns-links.ts';
import { LabError, requireRoot } from '../../lab/netns.ts';

// process.getuid is optional in Node's types (it is absent on Windows); here it exists.
const posix = process as NodeJS.Process & { getuid: () => number };

test('lab - without root every command that changes the network is one line that says so', (t) => {
  t.mock.method(posix, 'getuid', () => 1000);
  for (const what of ['up', 'down', 'partition', 'heal']) {
    assert.throws(
      () => requireRoot(what),
      (err: Error) =>
        err instanceof LabError &&
        err.message ===
          `ferry lab ${what} needs root (it makes network namespaces, veth links and a bridge)` &&
        !err.message.includes('\n'),
    );
  }
  t.mock.method(posix, 'getuid', () => 0);
  assert.doesNotThrow(() => requireRoot('up'));
});

test('lab - host i gets .(10+i) of the lab subnet and interface names within 15 characters', () => {
  assert.equal(labAddress('10.77.0.0/24', 1), '10.77.0.1');
  assert.deepEqual(hostLink('lab-3', 3, '10.77.0.0/24'), {
    netns: 'ferry-lab-3',
    hostSide: 'ferryv3',
    nsSide: 'ferryp3',
    address: '10.77.0.13',
  });
  const last = hostLink('a-host-name-of-thirty-one-chars', 200, '10.9.8.0/24');
  assert.equal(last.address, '10.9.8.210');
  assert.ok(last.hostSide.length <= 15 && last.nsSide.length <= 15);
  assert.throws(() => labAddress('10.77.0.0/24', 255), /no address \.255/);
});
