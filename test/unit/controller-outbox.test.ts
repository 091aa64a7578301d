import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../infra/config.ts';
import { controllerOutbox } from '../../workers/controller/files.ts';
import { CONTROL_TASK_QUEUE } from '../../workers/controller/queue.ts';

const cfg = loadConfig({ FERRY_STATE_DIR: '/state' });

test('controller outbox - the default controller publishes as controller, as before', () => {
  assert.deepEqual(controllerOutbox(cfg), { name: 'controller', dir: '/state/controller/controller' });
  assert.equal(controllerOutbox(cfg, 'drill-x').name, 'controller-drill-x');
});

test('controller outbox - controllers with identities of their own never share a publisher name', () => {
  const names = [
    controllerOutbox(cfg, CONTROL_TASK_QUEUE, 'ops-1').name,
    controllerOutbox(cfg, CONTROL_TASK_QUEUE, 'ops-2').name,
    controllerOutbox(cfg).name,
    controllerOutbox(cfg, 'drill-x', 'ops-1').name,
  ];
  assert.deepEqual(names, ['controller-ops-1', 'controller-ops-2', 'controller', 'controller-ops-1-drill-x']);
  assert.equal(new Set(names).size, names.length);
  assert.equal(controllerOutbox(cfg, CONTROL_TASK_QUEUE, 'ops-1').dir, '/state/controller/controller-ops-1');
});
