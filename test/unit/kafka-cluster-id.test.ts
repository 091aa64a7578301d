// The KRaft cluster id the stack formats Kafka's storage with never starts with '-', which Kafka's
// tools would read as an option (a clean-clone CI run failed `stack up` on one such id).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newKafkaClusterId } from '../../infra/kafka/service.ts';

test("kafka cluster id - an id that would start with '-' is drawn again", () => {
  // 0xf8 is 0b111110..: base64url's '-' as the first character.
  const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)];
  assert.equal(draws[0]!.toString('base64url')[0], '-');
  let n = 0;
  const id = newKafkaClusterId(() => draws[n++]!);
  assert.equal(n, 2, 'drawn twice');
  assert.equal(id, Buffer.alloc(16, 0x01).toString('base64url'));
});

test('kafka cluster id - whatever the first byte, 22 base64url characters and no leading dash', () => {
  for (let first = 0; first < 256; first++) {
    const draws = [Buffer.alloc(16, first), Buffer.alloc(16, 0x01)];
    let n = 0;
    const id = newKafkaClusterId(() => draws[n++]!);
    assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/, `first byte ${first}`);
  }
});
