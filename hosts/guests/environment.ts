// The environment a guest process starts with. A guest runs code ferry does not trust (a VM's
// firmware and kernel, or an emulated guest fed by a peer's stream), so it gets what a process needs
// to run and nothing the agent holds: no FERRY_* setting (the cluster secret, service URLs with
// their passwords, identity paths), no NODE_OPTIONS or other variable that loads code, nothing a
// future credential might be named. An allow-list, as libvirt builds QEMU's environment from
// scratch (virCommandAddEnvPassCommon) rather than filtering the daemon's own.

/** Names passed through unchanged when the agent has them. */
const PASSED = ['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];
/** Locale categories (LC_ALL, LC_CTYPE, ...): they change only how text is shown. */
const LOCALE = /^LC_[A-Z_]+$/;

export function guestEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && (PASSED.includes(name) || LOCALE.test(name))) out[name] = value;
  }
  return out;
}
