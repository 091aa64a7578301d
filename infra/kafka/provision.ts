// Kafka's broker jars come from Maven Central through infra/kafka/pom.xml, copied into the cache
// with a Maven repository of ferry's own (so the cache holds everything and ~/.m2 is untouched).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary } from '../provision/debian-package.ts';
import { runStep } from '../provision/run.ts';

const POM = join(import.meta.dirname, 'pom.xml');

export function kafkaLibsDir(cacheDir: string, version: string): string {
  return join(cacheDir, `kafka-${version}`, 'libs');
}

export async function provisionKafka(cacheDir: string, version: string, log: (l: string) => void) {
  const libs = kafkaLibsDir(cacheDir, version);
  const complete = join(libs, '.complete');
  const java = await ensureBinary('java', 'openjdk-17-jre-headless', log);
  if (existsSync(complete)) return { java, libs };
  const mvn = await ensureBinary('mvn', 'maven', log);
  log(`fetching Apache Kafka ${version} jars from Maven Central...`);
  rmSync(libs, { recursive: true, force: true });
  mkdirSync(libs, { recursive: true });
  await runStep(
    `resolving Kafka ${version} with Maven`,
    mvn,
    [
      '-q',
      '-B',
      '-f',
      POM,
      `-Dkafka.version=${version}`,
      `-Dmaven.repo.local=${join(cacheDir, 'm2')}`,
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    `check that Maven Central is reachable and FERRY_KAFKA_VERSION=${version} exists as org.apache.kafka:kafka_2.13`,
  );
  writeFileSync(complete, `${new Date().toISOString()}\n`);
  return { java, libs };
}
