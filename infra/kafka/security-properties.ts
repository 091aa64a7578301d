// The broker's settings when security is on. Clients reach one listener, CLIENT: SASL_SSL with
// SCRAM-SHA-512 users and TLS that also asks for the client's certificate (every ferry process has
// one), so a plaintext or certificate-less connection ends in the handshake. CONTROLLER (KRaft's own
// traffic, on the bind host) is TLS with client certificates too, since SCRAM cannot serve it: the
// controller reads SCRAM users from the very metadata log that listener carries. The broker's own
// certificate is its principal there and a super user, as KRaft's broker-to-controller requests
// (registration, heartbeats, forwarded admin requests) need CLUSTER_ACTION.
// PEM inline (ssl.keystore.key, ...): Kafka takes an unencrypted key only that way; a PEM keystore
// file needs a key password, which would just be another secret next to it.

export interface KafkaSecuritySettings {
  /** PEM: the cluster CA, the broker's certificate, its key in PKCS#8 ("BEGIN PRIVATE KEY"). */
  ca: string;
  cert: string;
  key: string;
  /** The SCRAM password of `admin`, the broker's own user on CLIENT (inter-broker). */
  adminPassword: string;
  /** The broker certificate's subject as Kafka names it (RFC 2253), e.g. CN=kafka,OU=service,O=ferry. */
  brokerPrincipal: string;
}

/** A value for a Java .properties file: backslashes and line breaks escaped. */
export function propertyValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\r?\n/g, '\\n');
}

export function kafkaListenerProperties(
  host: string,
  port: number,
  controllerHost: string,
  controllerPort: number,
): string[] {
  return [
    `listeners=CLIENT://${host}:${port},CONTROLLER://${controllerHost}:${controllerPort}`,
    `advertised.listeners=CLIENT://${host}:${port}`,
    'listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=CLIENT',
  ];
}

export function kafkaSecurityProperties(s: KafkaSecuritySettings): string[] {
  const jaas =
    'org.apache.kafka.common.security.scram.ScramLoginModule required ' +
    `username="admin" password="${s.adminPassword}";`;
  return [
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.client.scram-sha-512.sasl.jaas.config=${propertyValue(jaas)}`,
    'ssl.keystore.type=PEM',
    `ssl.keystore.certificate.chain=${propertyValue(s.cert.trim())}`,
    `ssl.keystore.key=${propertyValue(s.key.trim())}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.certificates=${propertyValue(s.ca.trim())}`,
    // Per listener: Kafka applies a bare ssl.client.auth to SSL listeners only, not SASL_SSL.
    'listener.name.client.ssl.client.auth=required',
    'listener.name.controller.ssl.client.auth=required',
    'ssl.enabled.protocols=TLSv1.3,TLSv1.2',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    // ';' separates principals: a certificate's subject contains commas.
    `super.users=User:admin;User:${s.brokerPrincipal}`,
    'allow.everyone.if.no.acl.found=false',
  ];
}
