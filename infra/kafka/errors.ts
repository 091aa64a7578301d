import { FerryError } from '../../errors/ferry-error.ts';

/** A topic ferry needs is not there; only the stack's admin creates ferry's topics (topics.ts). */
export class KafkaTopicMissingError extends FerryError {
  readonly code = 'KAFKA_TOPIC_MISSING';
}

/** Kafka's state or settings do not fit the security mode asked for (e.g. formatted without SCRAM users). */
export class KafkaSecurityError extends FerryError {
  readonly code = 'KAFKA_SECURITY';
}
