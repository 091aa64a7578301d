import type { Config } from '../config.ts';
import {
  kafkaListenerProperties,
  kafkaSecurityProperties,
  type KafkaSecuritySettings,
} from './security-properties.ts';

/**
 * One KRaft node on the bind host, sized for a laptop, keeping the event log (it is the audit
 * record). With `security` (cfg.security.enabled), SASL_SSL and ACLs (security-properties.ts);
 * without, plaintext as before.
 */
export function kafkaServerProperties(cfg: Config, logDir: string, security?: KafkaSecuritySettings): string {
  const host = cfg.bindHost;
  const controller = controllerHost(host);
  const { port, controllerPort } = cfg.kafka;
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${controller}:${controllerPort}`,
    ...(security
      ? [
          ...kafkaListenerProperties(host, port, controller, controllerPort),
          ...kafkaSecurityProperties(security),
        ]
      : [
          `listeners=PLAINTEXT://${host}:${port},CONTROLLER://${controller}:${controllerPort}`,
          `advertised.listeners=PLAINTEXT://${host}:${port}`,
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
        ]),
    `log.dirs=${logDir}`,
    // Topics are created explicitly and waited for: auto-creation races the first produce in kafkajs.
    'auto.create.topics.enable=false',
    'num.partitions=1',
    // One node: every internal topic has one replica, or consumer groups never find a coordinator.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // The event log is the record: never delete by age.
    'log.retention.ms=-1',
    // Default 128 MiB lives on the heap; 4 MiB is plenty for one node and keeps the heap small.
    'log.cleaner.dedupe.buffer.size=4194304',
    '',
  ].join('\n');
}

/**
 * KRaft's own listener: only this node talks to it, so it stays on loopback even when the stack
 * binds a lab's bridge for its clients (the bind host itself when that is a loopback address).
 */
export function controllerHost(bindHost: string): string {
  return /^127\./.test(bindHost) ? bindHost : '127.0.0.1';
}

export const KAFKA_LOG4J_PROPERTIES = [
  'log4j.rootLogger=WARN, stdout',
  'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
  'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
  // Keep the lines that say the node started or stopped.
  'log4j.logger.kafka.server.KafkaRaftServer=INFO',
  'log4j.logger.kafka.server.BrokerServer=INFO',
  '',
].join('\n');
