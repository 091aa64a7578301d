import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../infra/config.ts';
import { stackServices } from '../../infra/stack/stack.ts';
import { frontConfig } from '../../infra/temporal/front-config.ts';
import { temporalBackend } from '../../infra/temporal/service.ts';
import { temporalTls } from '../../infra/temporal/tls.ts';

const settings = {
  listenHost: '127.0.15.1',
  listenPort: 7233,
  backendPort: 7234,
  tls: {
    certPath: '/state/identities/service-temporal/cert.pem',
    keyPath: '/state/identities/service-temporal/key.pem',
    caPath: '/state/identities/service-temporal/ca.crt',
  },
  workDir: '/state/temporal-front',
};

/** The directives of the one server block, without comments. */
function directives(conf: string): string[] {
  return conf
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
}

test('temporal front - nginx verifies client certificates against the cluster CA and passes gRPC to the server on 127.0.0.1', () => {
  const lines = directives(frontConfig(settings));
  for (const expected of [
    'listen 127.0.15.1:7233 ssl http2;',
    `ssl_certificate "${settings.tls.certPath}";`,
    `ssl_certificate_key "${settings.tls.keyPath}";`,
    `ssl_client_certificate "${settings.tls.caPath}";`,
    'ssl_verify_client on;',
    'ssl_verify_depth 1;',
    'server 127.0.0.1:7234;',
    'grpc_pass grpc://temporal_backend;',
    'daemon off;',
  ]) {
    assert.ok(lines.includes(expected), `${expected} in\n${lines.join('\n')}`);
  }
  // One listener, and no way in without a verified certificate.
  assert.equal(lines.filter((l) => l.startsWith('listen ')).length, 1);
  assert.equal(lines.filter((l) => l.startsWith('ssl_verify_client')).length, 1);
  assert.equal(lines.filter((l) => l.startsWith('grpc_pass')).length, 1);
});

test('temporal front - host and controller certificates (by their OU) are refused what only an operator does', () => {
  const conf = frontConfig(settings);
  const refusals = directives(conf).filter((l) => /^"~\^/.test(l));
  const refused = (role: string, method: string) =>
    refusals.some((l) =>
      new RegExp(/^"~(.*)" 1;$/.exec(l)![1]!).test(
        `${role}:/temporal.api.workflowservice.v1.WorkflowService/${method}`,
      ),
    );
  for (const m of [
    'StartWorkflowExecution',
    'TerminateWorkflowExecution',
    'RequestCancelWorkflowExecution',
  ]) {
    assert.ok(refused('host', m), `host ${m}`);
    assert.ok(!refused('operator', m), `operator ${m}`);
  }
  for (const m of ['DeleteWorkflowExecution', 'RegisterNamespace', 'CreateSchedule']) {
    assert.ok(refused('controller', m), `controller ${m}`);
  }
  // What agents and workers do every day stays open to them.
  for (const m of [
    'PollActivityTaskQueue',
    'PollWorkflowTaskQueue',
    'RespondActivityTaskCompleted',
    'RecordActivityTaskHeartbeat',
    'SignalWorkflowExecution',
    'DescribeWorkflowExecution',
    'GetSystemInfo',
  ]) {
    assert.ok(!refused('host', m), `host ${m}`);
  }
  assert.match(conf, /"~\(\^\|,\)OU=host\(,\|\$\)" host;/);
  assert.match(conf, /if \(\$ferry_refused\) \{\s+return 403;/);
});

test('temporal front - a path with a quote, a space or a dollar stays one nginx string', () => {
  const conf = frontConfig({ ...settings, tls: { ...settings.tls, caPath: '/odd dir/"ca";$x.crt' } });
  assert.ok(conf.includes('ssl_client_certificate "/odd dir/\\"ca\\";\\$x.crt";'), conf);
});

test('temporal front - without TLS settings (a lab bridge, security off) it passes plaintext gRPC', () => {
  const { tls: _none, ...plain } = settings;
  const lines = directives(frontConfig(plain));
  assert.ok(lines.includes('listen 127.0.15.1:7233 http2;'), lines.join('\n'));
  assert.deepEqual(
    lines.filter((l) => l.startsWith('ssl')),
    [],
  );
});

test('temporal front - with security off on loopback there is no front and the server listens where clients dial', () => {
  const off = loadConfig({ FERRY_TEMPORAL_PORT: '17233', FERRY_TEMPORAL_BACKEND_PORT: '17234' });
  assert.deepEqual(temporalBackend(off), { host: '127.0.0.1', port: 17233 });
  assert.equal(temporalTls(off), undefined);
  assert.deepEqual(
    stackServices(off).map((s) => s.name),
    ['redis', 'kafka', 'temporal'],
  );

  const on = loadConfig({
    FERRY_SECURITY: 'on',
    FERRY_BIND_HOST: '127.0.15.1',
    FERRY_TEMPORAL_PORT: '17233',
    FERRY_TEMPORAL_BACKEND_PORT: '17234',
  });
  assert.deepEqual(temporalBackend(on), { host: '127.0.0.1', port: 17234 });
  const services = stackServices(on);
  assert.deepEqual(
    services.map((s) => s.name),
    ['redis', 'kafka', 'temporal', 'temporal-front'],
  );
  const front = services.find((s) => s.name === 'temporal-front');
  assert.deepEqual([front?.host, front?.port], ['127.0.15.1', 17233]);
});
