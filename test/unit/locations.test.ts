import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildTree, canContain, childPath, locationLabel, LocationCreateSchema, type Location } from '../../src/domain/locations.js';

const at = new Date('2026-01-01T00:00:00Z');
function loc(id: string, parent: Location | null, kind: Location['kind'], name: string): Location {
  return { id, parentId: parent?.id ?? null, kind, name, reading: 'commercial', attributes: {}, path: childPath(parent?.path ?? null, id), isDemo: false, documentOwnerId: null, createdAt: at, updatedAt: at };
}

describe('location tree rules', () => {
  it('allows only an organisation at the top', () => {
    assert.equal(canContain(null, 'organisation'), true);
    assert.equal(canContain(null, 'site'), false);
  });
  it('allows deeper kinds under shallower ones, skipping levels, never the reverse', () => {
    assert.equal(canContain('organisation', 'site'), true);
    assert.equal(canContain('building', 'door'), true, 'a lobby door sits directly in a building');
    assert.equal(canContain('unit', 'floor'), false);
    assert.equal(canContain('site', 'site'), false);
    assert.equal(canContain('door', 'door'), false);
    assert.equal(canContain('site', 'organisation'), false);
  });
  it('names kinds by reading: a commercial unit is a zone, a residential site a property', () => {
    assert.equal(locationLabel('unit', 'commercial'), 'Zone');
    assert.equal(locationLabel('floor', 'commercial'), 'Area');
    assert.equal(locationLabel('unit', 'residential'), 'Unit');
    assert.equal(locationLabel('site', 'residential'), 'Property');
  });
  it('builds nested trees and rolls lock counts up to every ancestor', () => {
    const org = loc('o', null, 'organisation', 'Org');
    const site = loc('s', org, 'site', 'Site');
    const b = loc('b', site, 'building', 'B');
    const d1 = loc('d1', b, 'door', 'Door 10');
    const d2 = loc('d2', b, 'door', 'Door 9');
    const roots = buildTree([d1, org, b, site, d2], new Map([['d1', 2], ['d2', 1], ['b', 1]]));
    assert.equal(roots.length, 1);
    assert.equal(roots[0]!.lockCount, 4);
    const building = roots[0]!.children[0]!.children[0]!;
    assert.equal(building.lockCount, 4);
    assert.deepEqual(building.children.map((c) => c.name), ['Door 9', 'Door 10'], 'numeric-aware sort');
    assert.equal(building.children[1]!.label, 'Door');
  });
  it('rejects unknown attributes and empty names, naming the field', () => {
    const bad = LocationCreateSchema.safeParse({ parentId: null, kind: 'site', name: ' ', attributes: { colour: 'red' } });
    assert.equal(bad.success, false);
    const paths = (bad.error?.issues ?? []).map((i) => i.path.join('.'));
    assert.ok(paths.includes('name'));
    assert.ok(paths.includes('attributes'));
  });
});
