import type { z } from 'zod';

/** The first zod issue as "path message", so an operator sees which field is wrong. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'cookie is invalid';
  const path = issue.path.map(String).join('.');
  return `${path === '' ? 'cookie' : path} ${issue.message}`;
}
