import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memoryMasterKeyring, open, parseMasterKeyEnv, seal } from '../../src/crypto/envelope.js';
import { isAppError } from '../../src/domain/errors.js';
import { diffContents, HandbookContentSchema, normalizeModelNumber, verificationStatus, type HandbookContent } from '../../src/domain/handbook.js';
import { FAMILY_TEMPLATES } from '../../src/domain/handbook-templates.js';
import { LOCK_FAMILIES } from '../../src/domain/lock-models.js';

const base = (): HandbookContent =>
  HandbookContentSchema.parse({
    title: 'Reset',
    steps: [
      { kind: 'press', text: 'Press A' },
      { kind: 'hold', text: 'Hold B', seconds: 10 },
      { kind: 'verify', text: 'Check C' },
    ],
  });

describe('handbook content rules', () => {
  it('every family template is valid, generic and warns to confirm', () => {
    for (const f of LOCK_FAMILIES) {
      const c = HandbookContentSchema.parse(FAMILY_TEMPLATES[f]);
      assert.equal(c.generic, true, f);
      assert.ok(c.warnings.some((w) => /manufacturer's instructions/.test(w.text)), f);
      assert.deepEqual([...new Set(c.resources.map((r) => r.tier))].sort(), ['community', 'manufacturer', 'support'], f);
    }
  });

  it('rejects seconds on a press, a sequence step without its sequence, too many steps', () => {
    const r = HandbookContentSchema.safeParse({ title: 'x', steps: [{ kind: 'press', text: 'a', seconds: 3 }, { kind: 'sequence', text: 'b' }] });
    assert.ok(!r.success);
    assert.deepEqual(r.error.issues.map((i) => i.path.join('.')).sort(), ['steps.0.seconds', 'steps.1.sequence']);
    const many = HandbookContentSchema.safeParse({ title: 'x', steps: Array.from({ length: 61 }, () => ({ kind: 'press', text: 'a' })) });
    assert.ok(!many.success);
    assert.match(many.error.issues[0]!.message, /at most 60 steps/);
  });

  it('normalizes model numbers', () => {
    assert.equal(normalizeModelNumber(' DB-220W '), 'db220w');
    assert.equal(normalizeModelNumber('CB-2 Pro'), 'cb2pro');
  });
});

describe('revision diffs', () => {
  it('reports nothing for equal contents', () => {
    const d = diffContents(base(), base(), 1, 2);
    assert.equal(d.same, true);
    assert.deepEqual(d.fields, []);
  });

  it('pairs an edited step, and tells a removal from an insertion', () => {
    const b = base();
    b.steps[1] = { kind: 'hold', text: 'Hold B firmly', seconds: 15 };
    b.steps.splice(0, 1);
    b.steps.push({ kind: 'other', text: 'Close the cover' });
    const d = diffContents(base(), b, 1, 2);
    assert.deepEqual(
      d.steps.map((s) => s.op),
      ['removed', 'changed', 'same', 'added'],
    );
    const changed = d.steps[1]!;
    assert.ok(changed.op === 'changed');
    assert.deepEqual([changed.before, changed.after], [2, 1]);
    assert.deepEqual(changed.fields.find((f) => f.field === 'seconds'), { field: 'seconds', before: 10, after: 15 });
    assert.deepEqual(
      changed.fields.find((f) => f.field === 'text')!.text!.filter((t) => t.added).map((t) => t.value.trim()),
      ['firmly'],
    );
  });

  it('diffs list fields and text fields', () => {
    const b = { ...base(), title: 'Factory reset', tools: ['Screwdriver'] };
    const d = diffContents(base(), b, 1, 2);
    assert.deepEqual(d.fields.map((f) => f.field), ['title', 'tools']);
    assert.deepEqual(d.fields[1], { field: 'tools', before: [], after: ['Screwdriver'] });
  });
});

describe('verification windows', () => {
  const at = new Date('2026-01-01T00:00:00Z');
  it('never verified, current until the window ends, stale from then', () => {
    assert.equal(verificationStatus(null, 180, at).status, 'never_verified');
    const day = 86_400_000;
    assert.equal(verificationStatus(at, 180, new Date(at.getTime() + 180 * day - 1)).status, 'current');
    const s = verificationStatus(at, 180, new Date(at.getTime() + 180 * day));
    assert.equal(s.status, 'stale');
    assert.equal(s.dueAt?.toISOString(), '2026-06-30T00:00:00.000Z');
  });
});

describe('envelope sealing', () => {
  const key = Buffer.alloc(32, 3);
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return isAppError(e) ? e.code : String(e);
    }
    return 'ok';
  };
  it('round-trips and refuses a flipped byte, other associated data, or another key', () => {
    const sealed = seal(key, 1, Buffer.from('4821'), 'rec-1|v1');
    assert.equal(open(sealed, key, 'rec-1|v1').toString(), '4821');
    const parts = sealed.split('.');
    const tag = Buffer.from(parts[4]!, 'base64url');
    tag[3]! ^= 0x80;
    assert.equal(code(() => open([...parts.slice(0, 4), tag.toString('base64url')].join('.'), key, 'rec-1|v1')), 'crypto.integrity');
    assert.equal(code(() => open(sealed, key, 'rec-2|v1')), 'crypto.integrity');
    assert.equal(code(() => open(sealed, Buffer.alloc(32, 4), 'rec-1|v1')), 'crypto.integrity');
    assert.equal(code(() => open(sealed, undefined, 'rec-1|v1')), 'crypto.key_unavailable');
    assert.equal(code(() => open('garbage', key, 'rec-1|v1')), 'crypto.integrity');
  });

  it('keyrings: versions from the environment, new versions in memory', () => {
    const one = Buffer.alloc(32, 1).toString('base64');
    const two = Buffer.alloc(32, 2).toString('base64');
    assert.deepEqual([...parseMasterKeyEnv(one).keys()], [1]);
    assert.deepEqual([...parseMasterKeyEnv(`1:${one},2:${two}`).keys()], [1, 2]);
    assert.equal(code(() => parseMasterKeyEnv('c2hvcnQ=')), 'crypto.key_unavailable');
    const ring = memoryMasterKeyring(Buffer.alloc(32, 5));
    assert.equal(ring.addVersion(), 2);
    assert.equal(ring.current().version, 2);
    assert.ok(ring.byVersion(1));
  });
});
