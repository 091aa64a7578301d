// The audit: the projection's fold with the invariants of docs/architecture.md checked along the
// way (what can be seen at the moment an event happens) and at the end of the log (what is left
// over). Pure: the live system comes in only as the answer to "is this migration still in flight?".
import {
  apply,
  emptyState,
  isLive,
  type ClusterState,
  type GuestCopy,
  type GuestView,
} from './projection.ts';
import { refOf, type EventRef } from './refs.ts';
import type { FerryEvent } from '../protocol/events.ts';
import { violation, type Violation } from './violations.ts';

export interface Conclusion {
  /** A migration that has a live job (or a running workflow) is not over yet. */
  inFlight(migrationId: string): boolean;
  /** The log was read from a time: what came before is unknown, so absences prove nothing. */
  partial: boolean;
}

export class Auditor {
  readonly state: ClusterState = emptyState();
  readonly violations: Violation[] = [];
  /** Overlaps already reported, so one overlap is one violation however long it lasts. */
  private readonly overlaps = new Set<string>();

  observe(e: FerryEvent): void {
    const ref = refOf(e);
    const vm = e.vm;
    if (e.type === 'disk.leased' && vm !== null) this.checkSecondHolder(e.data.disks, e.host, vm, ref);
    const before = vm === null ? undefined : this.state.guests.get(vm);
    const wasPrimary = before?.primary === e.host;
    apply(this.state, e);
    if (vm === null) return;
    const g = this.state.guests.get(vm);
    if (!g) return;
    const copy = g.copies.get(e.host);
    if (copy?.runningSince?.id === e.id) {
      this.checkRunningElsewhere(g, copy, ref);
      this.checkDisksElsewhere(g, e.host, ref);
    }
    if ((e.type === 'guest.killed' || e.type === 'guest.stopped') && wasPrimary && g.primary === null) {
      this.checkLost(e, g, ref);
    }
    if (e.type === 'migration.ended') this.checkEndedWhere(e, g, ref);
  }

  /** The end of the log: what must not be left over. Returns every violation found. */
  conclude(c: Conclusion): Violation[] {
    this.checkIncomingLeft(c);
    this.checkLeasesLeft(c);
    this.checkMigrationsEnded(c);
    return this.violations;
  }

  private checkRunningElsewhere(g: GuestView, copy: GuestCopy, ref: EventRef): void {
    for (const other of g.copies.values()) {
      if (other === copy || other.state !== 'running' || !other.runningSince) continue;
      const key = `${g.vm}|${other.runningSince.id}|${copy.host}`;
      if (this.overlaps.has(key)) continue;
      this.overlaps.add(key);
      this.violations.push(
        violation(
          'two-hosts',
          { vm: g.vm },
          `${g.vm} runs on ${copy.host} (${ref.type} ${ref.host}:${ref.seq}) while it runs on ${other.host} since ${other.runningSince.host}:${other.runningSince.seq}`,
          [other.runningSince, ref],
        ),
      );
    }
  }

  private checkDisksElsewhere(g: GuestView, host: string, ref: EventRef): void {
    for (const disk of g.disks) {
      const holder = this.state.disks.get(disk);
      if (!holder || holder.host === host || holder.vm !== g.vm) continue;
      this.violations.push(
        violation(
          'disk-elsewhere',
          { vm: g.vm },
          `${g.vm} runs on ${host} (${ref.host}:${ref.seq}) while its disk ${disk} is leased by ${holder.host} (${holder.ref.host}:${holder.ref.seq})`,
          [holder.ref, ref],
        ),
      );
    }
  }

  private checkSecondHolder(disks: string[], host: string, vm: string, ref: EventRef): void {
    for (const disk of disks) {
      const holder = this.state.disks.get(disk);
      if (!holder || (holder.host === host && holder.vm === vm)) continue;
      this.violations.push(
        violation(
          'disk-two-holders',
          { vm },
          `disk ${disk} leased by ${host} for ${vm} (${ref.host}:${ref.seq}) while ${holder.host} holds it for ${holder.vm} (${holder.ref.host}:${holder.ref.seq})`,
          [holder.ref, ref],
        ),
      );
    }
  }

  /**
   * Lost: the primary copy went and no copy is the VM any more, other than by an operator's
   * `ferry guest stop` or `kill` (a guest.killed outside any migration). A kill by a migration
   * (Confirm, recovery) must leave the VM running on the other side; a guest.stopped is a process
   * that ended by itself (crashed, or died while its agent was down).
   */
  private checkLost(
    e: Extract<FerryEvent, { type: 'guest.killed' | 'guest.stopped' }>,
    g: GuestView,
    ref: EventRef,
  ): void {
    if (e.type === 'guest.killed' && e.migrationId === null) return;
    const incoming = [...g.copies.values()].find((c) => c.state === 'incoming');
    const how =
      e.type === 'guest.killed'
        ? `${e.host} killed it for migration ${e.migrationId} (${e.data.reason})`
        : `it stopped on ${e.host} (${e.data.reason})`;
    this.violations.push(
      violation(
        'lost',
        { vm: g.vm, migrationId: e.migrationId },
        `${g.vm} is gone: ${how} and no other host runs it` +
          (incoming ? ` (${incoming.host} held it still incoming)` : ''),
        [ref, incoming?.changed],
      ),
    );
  }

  /** migration.ended names where the VM runs; the agents' events must agree. */
  private checkEndedWhere(
    e: Extract<FerryEvent, { type: 'migration.ended' }>,
    g: GuestView,
    ref: EventRef,
  ): void {
    const { runsOn, outcome } = e.data;
    const primary = g.primary === null ? undefined : g.copies.get(g.primary);
    if (runsOn !== null && g.primary === runsOn) return;
    if (runsOn === null && primary?.state !== 'running') return;
    // Nothing known of the VM (a log read from a time): nothing to disagree with.
    if (g.copies.size === 0) return;
    const seen = primary
      ? `on ${primary.host} (${primary.state}, ${primary.changed.host}:${primary.changed.seq})`
      : 'on no host';
    this.violations.push(
      violation(
        'ended-disagrees',
        { vm: g.vm, migrationId: e.migrationId },
        `migration ${e.migrationId} ended ${outcome} saying ${g.vm} runs on ${runsOn ?? 'no host'}, but the log has it ${seen}`,
        [ref, primary?.changed],
      ),
    );
  }

  private checkIncomingLeft(c: Conclusion): void {
    for (const g of this.state.guests.values()) {
      for (const copy of g.copies.values()) {
        if (copy.state !== 'incoming') continue;
        const id = copy.migrationId;
        if (id !== null && c.inFlight(id)) continue;
        const m = id === null ? undefined : this.state.migrations.get(id);
        const how = m?.ended ? `ended ${m.ended.outcome}` : 'has no end and nothing runs it';
        this.violations.push(
          violation(
            'incoming-left',
            { vm: g.vm, migrationId: id },
            `the incoming ${g.vm} on ${copy.host} is still there, but its migration ${id ?? '(unknown)'} ${how}`,
            [copy.defined ?? copy.changed, m?.ended?.ref],
          ),
        );
      }
    }
  }

  private checkLeasesLeft(c: Conclusion): void {
    for (const holder of this.state.disks.values()) {
      const copy = this.state.guests.get(holder.vm)?.copies.get(holder.host);
      // A lease is taken just before its guest is defined (`guest start`): a defined copy is fine.
      if (copy && (isLive(copy) || copy.state === 'defined')) continue;
      if (!copy && c.partial) continue;
      this.violations.push(
        violation(
          'lease-without-guest',
          { vm: holder.vm },
          `disk ${holder.disk} is still leased by ${holder.host} for ${holder.vm}, which has no guest there` +
            (copy ? ` (gone at ${copy.changed.host}:${copy.changed.seq})` : ''),
          [holder.ref, copy?.changed],
        ),
      );
    }
  }

  private checkMigrationsEnded(c: Conclusion): void {
    for (const m of this.state.migrations.values()) {
      const about = { vm: m.vm, migrationId: m.id };
      if (!m.ended) {
        if (c.inFlight(m.id)) continue;
        this.violations.push(
          violation(
            'migration-unended',
            about,
            `migration ${m.id} of ${m.vm ?? '?'} has no migration.ended and nothing runs it (no live job, no running workflow); last seen ${m.last.type} at ${m.last.host}:${m.last.seq}`,
            [m.first, m.last],
          ),
        );
        continue;
      }
      const { outcome, firstError } = m.ended;
      if (outcome === 'failed') {
        this.violations.push(
          violation(
            'migration-failed',
            about,
            `migration ${m.id} of ${m.vm ?? '?'} ended failed: ${firstError ? `${firstError.message} (${firstError.type})` : 'no error recorded'}`,
            [m.ended.ref],
          ),
        );
      } else if (outcome === 'rolled-back' && !firstError) {
        this.violations.push(
          violation(
            'first-error-missing',
            about,
            `migration ${m.id} of ${m.vm ?? '?'} rolled back without a first error`,
            [m.ended.ref],
          ),
        );
      }
    }
  }
}
