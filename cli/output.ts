// How a command that prints a result prints it: with `--json`, one JSON document on stdout (the
// contract scripts read: field names stay); otherwise the line a person reads. Errors are not
// printed here: they go to stderr as one line through the program's error path, with or without
// `--json`, and the exit status says the command failed.

/** The `--json` option of a command, as `.option(...jsonFlag('{"vm", "host"}'))`; names the fields. */
export const jsonFlag = (fields: string) => ['--json', `print one JSON object: ${fields}`] as const;

/** Prints `result` as one JSON line when `json`, else `text()` (built only when it is read). */
export function printResult(json: boolean | undefined, result: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(result) : text());
}
