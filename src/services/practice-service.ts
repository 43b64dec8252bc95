/**
 * Practice runs (issue 18, seed 004: test a reset procedure before an emergency forces it): a
 * handbook entry's procedure played on a throwaway virtual twin of its model, through the same
 * virtual front panel as a simulated lock. The twins live in a fleet of their own, in this process
 * only: a practice run never touches a lock of the inventory or the simulator's fleet. A twin
 * expires an hour after it was made. Each run is recorded on the entry (who, when, passed or where
 * it went wrong), and its start and finish are audited.
 */
import { desc, eq } from 'drizzle-orm';
import { AppError } from '../domain/errors.js';
import type { Actor } from '../domain/identity.js';
import { parseInput } from '../domain/validation.js';
import { PanelActionSchema, SimFleet, simMasterCode, specFromModel, type PhysicalResetRefusal } from '../drivers/simulator/index.js';
import { inTransaction } from '../store/database.js';
import { LockModelRepository } from '../store/lock-model-repository.js';
import { practiceRuns } from '../store/schema.js';
import { actorId, actorLabel, authorize, type ServiceContext } from './context.js';
import { HandbookService } from './handbook-service.js';
import { lockResource } from './scope.js';
import type { LockPanel, LockPanelOutcome } from './sim-panel-service.js';

/** How long a practice twin lives. */
export const PRACTICE_TWIN_MS = 3600_000;

/** One reset attempt at a twin's panel, as the run records it. */
export interface PracticeAttempt {
  at: string;
  ok: boolean;
  reason: string | null;
  heldSeconds: number;
  words: string;
}

/** A practice run as people read it. */
export interface PracticeRun {
  id: string;
  entryId: string;
  revision: number;
  actorLabel: string;
  startedAt: Date;
  expiresAt: Date;
  finishedAt: Date | null;
  passed: boolean | null;
  attempts: PracticeAttempt[];
  /** What happened, in one sentence. */
  summary: string;
  /** The twin can still be used (not finished, not expired). */
  active: boolean;
}

/** A run seen by the person practising: with the twin's master code when its reset sequence needs one. */
export interface PracticeRunDetail extends PracticeRun {
  model: string;
  /** The twin's own master code (a real lock's is a secret of its entry; a twin's is for practice). */
  masterCode: string | null;
}

const SHORT: Record<PhysicalResetRefusal, string> = {
  hold_too_short: 'hold too short',
  wrong_sequence: 'wrong sequence',
  battery_low: 'battery too low',
  still_on_door: 'still on the door',
  battery_compartment_inaccessible: 'battery compartment would not open',
  board_fault: 'board fault',
  damaged: 'lock damaged',
};

/** One sentence on how a run went: passed or not, and the refusals on the way. */
export function practiceSummary(run: { passed: boolean | null; finishedAt: Date | null; attempts: PracticeAttempt[] }): string {
  const refusals = run.attempts.filter((a) => !a.ok).map((a) => SHORT[a.reason as PhysicalResetRefusal] ?? a.reason ?? 'refused');
  const wrong = refusals.length ? `${refusals.length} refused attempt${refusals.length === 1 ? '' : 's'} (${refusals.join(', ')})` : 'no refused attempt';
  if (!run.finishedAt) return `In progress: ${run.attempts.length} attempt${run.attempts.length === 1 ? '' : 's'} so far, ${wrong}.`;
  if (run.passed) return `Passed: the twin reached setup mode; ${wrong} on the way.`;
  return run.attempts.length ? `Not passed: the twin never reached setup mode; ${wrong}.` : 'Not passed: no reset attempt was made.';
}

interface Twin {
  runId: string;
  actorId: string;
  externalId: string;
  expiresAt: number;
  resetControl: string;
  modelName: string;
  needsMasterCode: boolean;
}

/** Practice runs and their throwaway twins. */
export class PracticeService {
  /** The twins: a fleet of their own, never the simulator's (so the inventory's locks are out of reach). */
  private readonly twins: SimFleet;
  private readonly byRun = new Map<string, Twin>();

  constructor(private readonly ctx: ServiceContext) {
    this.twins = new SimFleet({ clock: ctx.clock });
  }

  /** Starts a practice run of an entry's procedure on a new twin of its model (handbook.read on the entry, reset.perform where it applies). */
  async start(actor: Actor, entryId: string): Promise<PracticeRunDetail> {
    const entry = await new HandbookService(this.ctx).get(actor, entryId);
    authorize(actor, 'reset.perform', entry.lockId ? await lockResource(this.ctx.db, entry.lockId) : 'anywhere');
    const model = await new LockModelRepository(this.ctx.db).byId(entry.modelId);
    if (!model) throw new AppError('model.not_found', `model ${entry.modelId} not found`);
    this.sweep();
    const id = this.ctx.ids.uuid();
    const now = this.ctx.clock.now();
    const expiresAt = new Date(now.getTime() + PRACTICE_TWIN_MS);
    const externalId = `twin-${id.slice(0, 8)}`;
    // A twin as a lock in service would be: paired, on the door, batteries part used.
    this.twins.provision(specFromModel({ externalId, hub: 'practice', model, firmware: null, batteryPercent: 80 }));
    const twin: Twin = {
      runId: id,
      actorId: actorId(actor),
      externalId,
      expiresAt: expiresAt.getTime(),
      resetControl: model.gating.button,
      modelName: `${model.manufacturer} ${model.modelNumber}`,
      needsMasterCode: /master\s*code/i.test(model.gating.buttonSequence ?? ''),
    };
    this.byRun.set(id, twin);
    const row = { id, entryId, revision: entry.revision, actorId: twin.actorId, actorLabel: actorLabel(actor), startedAt: now, expiresAt, finishedAt: null, passed: null, attempts: [] };
    await inTransaction(this.ctx.db, async (tx) => {
      await tx.insert(practiceRuns).values(row);
      await this.ctx.audit.append(tx, { actor, action: 'practice.start', target: { type: 'handbook_entry', id: entryId, label: entry.title }, details: { runId: id, revision: entry.revision, model: twin.modelName } });
    });
    return this.detail(row, twin);
  }

  /** One's own run, with its twin's master code while it is active. */
  async get(actor: Actor, runId: string): Promise<PracticeRunDetail> {
    const row = await this.ownRow(actor, runId);
    return this.detail(row, this.byRun.get(runId) ?? null);
  }

  /** What the twin's panel shows. */
  async panel(actor: Actor, runId: string): Promise<LockPanel> {
    const { twin } = await this.activeTwin(actor, runId);
    return this.panelOf(twin);
  }

  /** Does one thing at the twin's panel; a reset attempt is recorded on the run. */
  async act(actor: Actor, runId: string, input: unknown): Promise<LockPanelOutcome> {
    const action = parseInput(PanelActionSchema, input);
    const { row, twin } = await this.activeTwin(actor, runId);
    const outcome = this.twins.panel.act(twin.externalId, action);
    if (outcome.attempt) {
      const a = outcome.attempt;
      const attempts = [...row.attempts, { at: a.at, ok: a.ok && a.setupModeAfter, reason: a.reason, heldSeconds: Math.round(a.heldSeconds * 10) / 10, words: a.words }];
      await this.ctx.db.update(practiceRuns).set({ attempts }).where(eq(practiceRuns.id, runId));
    }
    return { panel: { ...outcome.view, ...this.about(twin) }, ok: outcome.ok, words: outcome.words };
  }

  /** Ends a run: passed when the twin reached setup mode through the procedure; the twin is thrown away. */
  async finish(actor: Actor, runId: string): Promise<PracticeRunDetail> {
    const { row } = await this.activeTwin(actor, runId);
    const passed = row.attempts.some((a) => a.ok);
    const finishedAt = this.ctx.clock.now();
    const done = { ...row, finishedAt, passed };
    // Read before the transaction: on the embedded database a read outside it would wait for it.
    const entry = await new HandbookService(this.ctx).get(actor, row.entryId);
    await inTransaction(this.ctx.db, async (tx) => {
      await tx.update(practiceRuns).set({ finishedAt, passed }).where(eq(practiceRuns.id, runId));
      await this.ctx.audit.append(tx, {
        actor,
        action: 'practice.finish',
        target: { type: 'handbook_entry', id: row.entryId, label: entry.title },
        details: { runId, passed, attempts: row.attempts.length, refusals: row.attempts.filter((a) => !a.ok).map((a) => a.reason) },
      });
    });
    this.drop(runId);
    return this.detail(done, null);
  }

  /** The practice runs recorded on an entry, newest first (handbook.read on the entry). */
  async list(actor: Actor, entryId: string): Promise<PracticeRun[]> {
    await new HandbookService(this.ctx).get(actor, entryId);
    const rows = await this.ctx.db.select().from(practiceRuns).where(eq(practiceRuns.entryId, entryId)).orderBy(desc(practiceRuns.startedAt)).limit(50);
    return rows.map((r) => this.view(r));
  }

  /** Throws away twins past their hour (a run left unfinished stays recorded as it was). */
  sweep(): void {
    const now = this.ctx.clock.now().getTime();
    for (const twin of [...this.byRun.values()]) if (twin.expiresAt <= now) this.drop(twin.runId);
  }

  private drop(runId: string): void {
    const twin = this.byRun.get(runId);
    if (!twin) return;
    this.twins.remove(twin.externalId);
    this.byRun.delete(runId);
  }

  private async ownRow(actor: Actor, runId: string): Promise<typeof practiceRuns.$inferSelect> {
    const [row] = await this.ctx.db.select().from(practiceRuns).where(eq(practiceRuns.id, runId));
    // Someone else's run does not exist for you: it is a person's own rehearsal.
    if (!row || row.actorId !== actorId(actor)) throw new AppError('practice.not_found', 'no such practice run of yours');
    return row;
  }

  private async activeTwin(actor: Actor, runId: string): Promise<{ row: typeof practiceRuns.$inferSelect; twin: Twin }> {
    const row = await this.ownRow(actor, runId);
    if (row.finishedAt) throw new AppError('practice.finished', 'this practice run is finished: start a new one to practise again');
    this.sweep();
    const twin = this.byRun.get(runId);
    if (!twin) throw new AppError('practice.finished', 'this practice run\'s virtual lock is gone (a twin lasts an hour, and not past a restart): start a new one');
    return { row, twin };
  }

  private about(twin: Twin): Pick<LockPanel, 'lockId' | 'lockName' | 'resetControl'> {
    return { lockId: twin.runId, lockName: `Practice twin of ${twin.modelName}`, resetControl: twin.resetControl };
  }

  private panelOf(twin: Twin): LockPanel {
    return { ...this.twins.panel.view(twin.externalId), ...this.about(twin) };
  }

  private view(r: typeof practiceRuns.$inferSelect): PracticeRun {
    const twin = this.byRun.get(r.id);
    return {
      id: r.id,
      entryId: r.entryId,
      revision: r.revision,
      actorLabel: r.actorLabel,
      startedAt: r.startedAt,
      expiresAt: r.expiresAt,
      finishedAt: r.finishedAt,
      passed: r.passed,
      attempts: r.attempts,
      summary: practiceSummary(r),
      active: !r.finishedAt && twin !== undefined && twin.expiresAt > this.ctx.clock.now().getTime(),
    };
  }

  private detail(r: typeof practiceRuns.$inferSelect, twin: Twin | null): PracticeRunDetail {
    const v = this.view(r);
    const s = twin && v.active ? this.twins.get(twin.externalId) : null;
    return { ...v, model: twin?.modelName ?? '', masterCode: s && twin?.needsMasterCode ? simMasterCode(s.externalId) : null };
  }
}

