// The rebuilt state against the live one (invariant 5 of docs/architecture.md: replaying the log gives the
// state of the live system). Each difference names what differs, what the log says (with the
// event that says it) and what Redis says. Pure; live.ts reads the live side.
import type { LiveScope, LiveState } from './live.ts';
import { guestState, type ClusterState } from './projection.ts';
import { plainRef, type EventRef, type SeqRef } from './refs.ts';

export interface Difference {
  what: 'placement' | 'disk' | 'host' | 'job';
  subject: string;
  message: string;
  cites: (EventRef | SeqRef)[];
}

/** What to read live: the VMs of the scope (all the log knows, if none), their disks and hosts. */
export function liveScopeOf(state: ClusterState, vms?: ReadonlySet<string>): LiveScope {
  const guests = [...state.guests.values()].filter((g) => !vms || vms.has(g.vm));
  const hosts = new Set<string>(vms ? [] : state.hosts.keys());
  const disks = new Set<string>();
  for (const g of guests) {
    for (const host of g.copies.keys()) hosts.add(host);
    for (const disk of g.disks) disks.add(disk);
  }
  for (const m of state.migrations.values()) {
    if (vms && !(m.vm !== null && vms.has(m.vm))) continue;
    for (const host of [m.source, m.destination]) if (host !== null) hosts.add(host);
  }
  return {
    vms: vms ? [...vms] : guests.map((g) => g.vm),
    disks: [...disks],
    hosts: [...hosts],
    everything: !vms,
  };
}

/**
 * `fromTheStart` false: the log was read from a time (--since), so a host that started before it
 * has no host.started in what was read, which is no difference.
 */
export function compareWithLive(state: ClusterState, live: LiveState, fromTheStart = true): Difference[] {
  const out: Difference[] = [];
  differences(state, live, fromTheStart, out);
  return out.map((d) => ({ ...d, cites: d.cites.map(plainRef) }));
}

function differences(state: ClusterState, live: LiveState, fromTheStart: boolean, out: Difference[]): void {
  for (const [vm, host] of live.placements) {
    const g = state.guests.get(vm);
    const logHost = g?.primary ?? null;
    if (logHost === host) continue;
    const said = g
      ? logHost === null
        ? `has it on no host (${guestState(g)}, last ${g.last.type} at ${g.last.host}:${g.last.seq})`
        : `has it on ${logHost}`
      : 'never mentions it';
    out.push({
      what: 'placement',
      subject: vm,
      message: `${vm}: the log ${said}; Redis ${host === null ? 'has no placement' : `places it on ${host}`}`,
      cites: g ? [g.last] : [],
    });
  }
  for (const [disk, holder] of live.disks) {
    const logHolder = state.disks.get(disk);
    if (!logHolder && !holder) continue;
    if (logHolder && holder && logHolder.host === holder.host && logHolder.vm === holder.vm) continue;
    const said = logHolder ? `held by ${logHolder.host} for ${logHolder.vm}` : 'free';
    out.push({
      what: 'disk',
      subject: disk,
      message: `disk ${disk}: the log has it ${said}; Redis ${holder ? `has it held by ${holder.host} for ${holder.vm} (token ${holder.token})` : 'has it free'}`,
      cites: logHolder ? [logHolder.ref] : [],
    });
  }
  for (const [name, h] of live.hosts) {
    const logHost = state.hosts.get(name);
    const cites = logHost ? [logHost.ref] : [];
    if (!logHost) {
      if (h.up && fromTheStart)
        out.push({
          what: 'host',
          subject: name,
          message: `host ${name} is registered and up, but the log has no host.started of it`,
          cites,
        });
      continue;
    }
    if (logHost.up !== h.up) {
      out.push({
        what: 'host',
        subject: name,
        message: logHost.up
          ? `host ${name}: the log has it up since ${logHost.ref.host}:${logHost.ref.seq}; live its heartbeat has lapsed (stopped without a host.stopped: crashed or killed?)`
          : `host ${name}: the log's last word is host.stopped (${logHost.ref.host}:${logHost.ref.seq}), but it is registered and up`,
        cites,
      });
      continue;
    }
    if (!h.up) continue;
    if (logHost.uuid !== null && h.uuid !== null && logHost.uuid !== h.uuid) {
      out.push({
        what: 'host',
        subject: name,
        message: `host ${name}: uuid ${logHost.uuid} in the log, ${h.uuid} live`,
        cites,
      });
    }
    if (logHost.address !== null && h.address !== null && logHost.address !== h.address) {
      out.push({
        what: 'host',
        subject: name,
        message: `host ${name}: data plane ${logHost.address} in the log, ${h.address} live`,
        cites,
      });
    }
  }
  for (const j of live.jobs) {
    const m = state.migrations.get(j.owner);
    if (m && !m.ended) continue;
    out.push({
      what: 'job',
      subject: `${j.vm}@${j.host}`,
      message: m?.ended
        ? `${j.vm} on ${j.host}: a ${j.job} job (phase ${j.phase}) of migration ${j.owner}, which the log says ended ${m.ended.outcome}`
        : `${j.vm} on ${j.host}: a ${j.job} job (phase ${j.phase}) of migration ${j.owner}, of which the log has no event`,
      cites: m?.ended ? [m.ended.ref] : [],
    });
  }
}
