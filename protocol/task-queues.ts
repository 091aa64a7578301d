// Where work for a host goes. Free of imports on purpose: the workflows import it, and all it
// imports would enter their bundle.

/** The task queue of host `name`'s agent: where the workflows send that host's phases and operations. */
export function hostTaskQueue(name: string): string {
  return `host.${name}`;
}
