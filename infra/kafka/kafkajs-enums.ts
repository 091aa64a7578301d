// kafkajs's enums, which are not reachable as named ESM exports: Node's detection of a CommonJS
// module's names stops at the first entry of kafkajs's index.js that is not a plain name
// (`CompressionTypes: Compression.Types`), so only what precedes it (Kafka, logLevel, Partitioners)
// imports by name. The default import is the whole module.exports.
import kafkajs from 'kafkajs';

export const {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ConfigResourceTypes,
  ConfigSource,
  ResourcePatternTypes,
} = kafkajs;
