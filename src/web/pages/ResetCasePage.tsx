/**
 * One reset case, one step at a time. The technician's part (the procedure at the door, checks) is
 * laid out for a phone: full-width buttons, one procedure step on screen, a big timer for timed holds.
 */
import { useEffect, useMemo, useState } from 'react';
import { Alert, Anchor, Badge, Button, Card, Checkbox, FileButton, Group, Image, Loader, Progress, RingProgress, Select, SimpleGrid, Stack, Text, TextInput, Textarea, Timeline, Title } from '@mantine/core';
import { Link, useParams } from 'react-router-dom';
import { STEP_KIND_LABELS, type Step } from '../../domain/handbook.js';
import { MANUAL_CHECKS, PREFLIGHT_CHECKS, RESET_BLOCK_REASONS, RESET_REMEDIES, type ResetRemedy } from '../../domain/reset-case.js';
import { formAlert, formatDate } from '../api.js';
import { SimulatedLockCard } from './SimPanel.js';
import { useCan, useSession } from '../session.js';
import { BLOCK_LABELS, CHECK_LABELS, PREFLIGHT_LABELS, REASON_LABELS, REMEDY_LABELS, STATE_LABELS, photoUrl, useCasePhotos, useEnrollment, useReenroll, useResetCase, useStep, useUploadPhoto, type CaseViewJson } from '../resets.js';

type Send = (command: { type: string } & Record<string, unknown>) => void;

/** The case page: header, what to do now, and the record of what was done. */
export function ResetCasePage() {
  const { id } = useParams();
  const view = useResetCase(id);
  const step = useStep(id ?? '');
  if (view.isPending) return <Loader />;
  if (view.isError) return <Alert color="red">{view.error.message}</Alert>;
  const v = view.data;
  const c = v.case;
  const send: Send = (command) => step.mutate(command);
  const error = formAlert(step.error, []);
  return (
    <Stack maw={720} data-testid="reset-case">
      <Stack gap={4}>
        <Group gap="xs">
          <Badge size="lg" variant="filled" data-testid="case-state">
            {STATE_LABELS[c.state]}
          </Badge>
          <Text size="sm" c="dimmed">
            {REASON_LABELS[c.reason]}
          </Text>
        </Group>
        <Title order={2}>
          <Link to={`/locks/${v.lock.id}`}>{v.lock.name}</Link>
        </Title>
        {c.description && <Text size="sm">{c.description}</Text>}
      </Stack>
      {error && (
        <Alert color="red" data-testid="step-error">
          {error}
        </Alert>
      )}
      {v.openIntents.length > 0 && (
        <Alert color="orange">A device command ({v.openIntents.map((i) => i.command).join(', ')}) was started and not confirmed: repeat that step; the lock is checked before anything is sent again.</Alert>
      )}
      <Now v={v} send={send} busy={step.isPending} />
      {v.lock.driver === 'simulator' && ['physical_reset', 'verification', 'replace_device', 'account_unbind'].includes(c.state) && <SimulatedLockCard lockId={v.lock.id} />}
      {v.next.includes('cancel') && <CancelCase send={send} busy={step.isPending} />}
      {v.missing.length > 0 && !['closed', 'cancelled', 'triage'].includes(c.state) && (
        <Card withBorder>
          <Text size="sm" fw={600}>
            Still to do before moving on
          </Text>
          {v.missing.map((m) => (
            <Text size="sm" key={m}>
              · {m}
            </Text>
          ))}
        </Card>
      )}
      {v.lockedOut.length > 0 && ['verification', 'rebuild', 'physical_reset', 'replace_device', 'account_unbind'].includes(c.state) && (
        <Alert color="yellow" title="Locked out until the rebuild" data-testid="locked-out">
          {v.lockedOut.map((i) => i.label).join(', ')}
        </Alert>
      )}
      <Photos caseId={c.id} />
      <History v={v} />
    </Stack>
  );
}

/** Cancelling a case that has not yet done anything destructive, with the reason on the record. */
function CancelCase({ send, busy }: { send: Send; busy: boolean }) {
  const canManage = useCan('reset.manage');
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  if (!canManage) return null;
  return open ? (
    <Card withBorder data-testid="cancel-form">
      <Stack>
        <Textarea label="Why the case is cancelled" value={reason} onChange={(e) => setReason(e.currentTarget.value)} autosize minRows={2} />
        <Group>
          <Button color="red" onClick={() => send({ type: 'cancel', note: reason })} disabled={busy || !reason.trim()} data-testid="confirm-cancel">
            Cancel the case
          </Button>
          <Button variant="default" onClick={() => setOpen(false)}>
            Keep it open
          </Button>
        </Group>
      </Stack>
    </Card>
  ) : (
    <Button variant="subtle" color="red" onClick={() => setOpen(true)} data-testid="cancel-case">
      Cancel this case…
    </Button>
  );
}

/** The case's photos, as thumbnails that open the full (metadata-stripped) image. */
function Photos({ caseId }: { caseId: string }) {
  const photos = useCasePhotos(caseId);
  if (!photos.data?.length) return null;
  return (
    <Card withBorder data-testid="case-photos">
      <Title order={4} mb="sm">
        Photos
      </Title>
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        {photos.data.map((p) => (
          <Anchor key={p.id} href={photoUrl(caseId, p.id)} target="_blank">
            <Image src={`${photoUrl(caseId, p.id)}/thumbnail`} alt={p.caption || p.filename} h={100} fit="contain" data-testid="photo-thumbnail" />
            <Text size="xs" c="dimmed" truncate>
              {p.caption || p.filename}
            </Text>
          </Anchor>
        ))}
      </SimpleGrid>
    </Card>
  );
}

/** Adds photos for one check; their ids go with the check's result as evidence. */
function CheckPhotos({ caseId, check, ids, onChange }: { caseId: string; check: string; ids: string[]; onChange: (ids: string[]) => void }) {
  const upload = useUploadPhoto(caseId);
  return (
    <Stack gap={4}>
      <Group gap="xs">
        <FileButton accept="image/png,image/jpeg,image/webp" onChange={(file) => file && upload.mutate({ file, caption: CHECK_LABELS[check as keyof typeof CHECK_LABELS] }, { onSuccess: (p) => onChange([...ids, p.id]) })}>
          {(props) => (
            <Button {...props} size="xs" variant="default" loading={upload.isPending} data-testid={`photo-${check}`}>
              Add a photo
            </Button>
          )}
        </FileButton>
        {ids.map((id) => (
          <Image key={id} src={`${photoUrl(caseId, id)}/thumbnail`} alt="evidence photo" h={40} w={56} fit="cover" radius="sm" data-testid={`evidence-${check}`} />
        ))}
      </Group>
      {upload.error && (
        <Text size="xs" c="red" data-testid="photo-error">
          {upload.error.message}
        </Text>
      )}
    </Stack>
  );
}

function Big({ children, ...rest }: { children: React.ReactNode; onClick: () => void; disabled?: boolean; color?: string; variant?: string; 'data-testid'?: string }) {
  return (
    <Button size="lg" fullWidth {...rest}>
      {children}
    </Button>
  );
}

/** What the case needs now, for the state it is in. */
function Now({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const c = v.case;
  const canManage = useCan('reset.manage');
  const canPerform = useCan('reset.perform');
  const canApprove = useCan('reset.approve');
  const { user } = useSession();
  const [override, setOverride] = useState<ResetRemedy | null>(null);
  const [reason, setReason] = useState('');
  switch (c.state) {
    case 'triage':
      return (
        <Card withBorder>
          <Stack>
            <Text fw={600}>Recommended: {REMEDY_LABELS[c.recommendation.remedy]}</Text>
            <Text size="sm" data-testid="why">
              {c.recommendation.why}
            </Text>
            {canManage && (
              <>
                <Big onClick={() => send({ type: 'decide', remedy: c.recommendation.remedy })} disabled={busy} data-testid="follow">
                  Follow: {REMEDY_LABELS[c.recommendation.remedy]}
                </Big>
                <Select label="Or choose instead" data={RESET_REMEDIES.filter((r) => r !== c.recommendation.remedy).map((r) => ({ value: r, label: REMEDY_LABELS[r] }))} value={override} onChange={(x) => setOverride(x)} />
                {override && (
                  <>
                    <Textarea label="Why you override the recommendation" value={reason} onChange={(e) => setReason(e.currentTarget.value)} />
                    <Button variant="default" onClick={() => send({ type: 'decide', remedy: override, overrideReason: reason })} disabled={busy}>
                      Override with {REMEDY_LABELS[override]}
                    </Button>
                  </>
                )}
              </>
            )}
          </Stack>
        </Card>
      );
    case 'preflight':
      return (
        <Card withBorder>
          <Stack>
            {PREFLIGHT_CHECKS.map((check) => {
              const m = c.preflight[check];
              return (
                <Group key={check} justify="space-between" wrap="nowrap">
                  <Stack gap={0}>
                    <Text size="sm">{PREFLIGHT_LABELS[check]}</Text>
                    {m && <Text size="xs" c={m.passed ? 'green' : 'red'}>{m.passed ? 'confirmed' : 'not met'}{m.note ? `: ${m.note}` : ''}</Text>}
                  </Stack>
                  {canPerform && (check === 'battery_adequate' ? (
                    <Button size="sm" variant="light" onClick={() => send({ type: 'read_battery' })} disabled={busy}>
                      Read from the lock
                    </Button>
                  ) : (
                    <Checkbox size="lg" aria-label={PREFLIGHT_LABELS[check]} checked={m?.passed ?? false} onChange={(e) => send({ type: 'preflight_check', check, passed: e.currentTarget.checked })} disabled={busy} />
                  ))}
                </Group>
              );
            })}
            {c.approvals.map((a) => (
              <Text size="sm" key={a.by}>
                Approved by {a.by} at {formatDate(a.at)}
              </Text>
            ))}
            {canApprove && v.missing.some((m) => m.startsWith('approval')) && user.id !== c.openedBy && (
              <Button variant="light" onClick={() => send({ type: 'approve' })} disabled={busy}>
                Approve as the second person
              </Button>
            )}
            {canManage && (
              <Big onClick={() => send({ type: 'complete_preflight' })} disabled={busy || v.missing.length > 0}>
                Preflight complete
              </Big>
            )}
          </Stack>
        </Card>
      );
    case 'snapshot':
      return (
        <Card withBorder>
          <Stack>
            <Text size="sm">Capture the PINs and schedules that must survive, sealed, before anything is erased.</Text>
            {canManage && (
              <Big onClick={() => send({ type: 'take_snapshot' })} disabled={busy}>
                Take the snapshot
              </Big>
            )}
          </Stack>
        </Card>
      );
    case 'account_unbind':
      return <AccountSide v={v} send={send} busy={busy} />;
    case 'physical_reset':
      return <AtTheDoor v={v} send={send} busy={busy} />;
    case 'replace_device':
      return (
        <Card withBorder>
          <Stack>
            <Text size="sm">The reset is blocked ({c.block ? BLOCK_LABELS[c.block.reason] : ''}). Replace the device, then verify the new one.</Text>
            {canManage && (
              <Big onClick={() => send({ type: 'confirm_device_replaced' })} disabled={busy}>
                New device fitted
              </Big>
            )}
          </Stack>
        </Card>
      );
    case 'verification':
      return <Verification v={v} send={send} busy={busy} />;
    case 'rebuild':
      return <Rebuild v={v} send={send} busy={busy} />;
    case 'close_out':
      return canManage ? (
        <Big onClick={() => send({ type: 'close' })} disabled={busy} data-testid="close">
          Close and sign the record
        </Big>
      ) : (
        <Text>A manager closes the case.</Text>
      );
    case 'closed':
    case 'cancelled':
      return (
        <Card withBorder data-testid="closed">
          <Text fw={600}>Outcome: {c.outcome?.replace(/_/g, ' ')}</Text>
          <Text size="sm">
            {formatDate(c.closedAt)} by {c.closedBy}
          </Text>
          {v.record && (
            <Group mt="sm">
              <Button component="a" href={`/api/reset-cases/${c.id}/record.pdf`} download data-testid="record-pdf">
                Signed record (PDF)
              </Button>
              <Button component="a" href={`/api/reset-cases/${c.id}/record`} target="_blank" variant="light">
                Signed record (JSON, key {v.record.keyId})
              </Button>
            </Group>
          )}
        </Card>
      );
  }
}

/** The technician at the lock: one procedure step at a time, a big timer for holds, then the reset. */
function AtTheDoor({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const c = v.case;
  const steps: Step[] = v.procedure ?? [];
  const next = steps.findIndex((_, i) => !c.procedureDone.includes(i + 1));
  const [block, setBlock] = useState<string | null>(null);
  const canPerform = useCan('reset.perform');
  if (!canPerform) return <Text>A technician performs this step.</Text>;
  return (
    <Card withBorder data-testid="at-the-door">
      <Stack>
        {steps.length > 0 && <Progress value={(c.procedureDone.length / steps.length) * 100} size="lg" aria-label="procedure progress" />}
        {next >= 0 ? (
          <ProcedureStep
            key={next}
            n={next + 1}
            total={steps.length}
            step={steps[next]!}
            holdStartedAt={c.holds?.[String(next + 1)] ?? null}
            serverNow={v.now}
            onStart={() => send({ type: 'start_hold', step: next + 1 })}
            onDone={() => send({ type: 'procedure_step', step: next + 1 })}
            busy={busy}
          />
        ) : (
          <>
            <Text fw={600}>{steps.length ? 'Every step done.' : 'No handbook procedure for this model: follow the manufacturer’s.'}</Text>
            <Big onClick={() => send({ type: 'confirm_reset' })} disabled={busy} data-testid="confirm-reset">
              Reset done: read the lock
            </Big>
          </>
        )}
        {c.profile.remoteReset && (
          <Button variant="light" onClick={() => send({ type: 'remote_reset' })} disabled={busy}>
            Reset remotely instead
          </Button>
        )}
        <Group align="end" grow>
          <Select label="The reset cannot be done" placeholder="why" data={RESET_BLOCK_REASONS.map((r) => ({ value: r, label: BLOCK_LABELS[r] }))} value={block} onChange={setBlock} />
          <Button color="red" variant="light" disabled={!block || busy} onClick={() => send({ type: 'report_blocked', reason: block })}>
            Record as blocked
          </Button>
        </Group>
      </Stack>
    </Card>
  );
}

/**
 * One procedure step; a hold shows a big countdown that must run out before the tick. A hold's start
 * is kept by the server (a reload carries on counting, on the server's clock); a wait for an
 * indicator is only a guide, counted here.
 */
function ProcedureStep({ n, total, step, holdStartedAt, serverNow, onStart, onDone, busy }: { n: number; total: number; step: Step; holdStartedAt: string | null; serverNow: string; onStart: () => void; onDone: () => void; busy: boolean }) {
  const timed = step.kind === 'hold' || step.kind === 'wait_indicator' ? (step.seconds ?? 0) : 0;
  const held = step.kind === 'hold';
  // How far the browser's clock is from the server's (measured when the case arrived), so a hold counts as the server counts it.
  const skew = useMemo(() => Date.parse(serverNow) - Date.now(), [serverNow]);
  const [localStart, setLocalStart] = useState<number | null>(null);
  const startedAt = held ? (holdStartedAt ? Date.parse(holdStartedAt) - skew : null) : localStart;
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (startedAt === null) return;
    const t = setInterval(() => setNow(Date.now()), 200);
    return () => clearInterval(t);
  }, [startedAt]);
  const left = startedAt === null ? timed : Math.max(0, timed - Math.floor((Math.max(now, startedAt) - startedAt) / 1000));
  // A hold must last its time; a wait for an indicator may end as soon as the light shows.
  const ready = !held || timed === 0 || (startedAt !== null && left === 0);
  return (
    <Stack data-testid="procedure-step">
      <Text size="sm" c="dimmed">
        Step {n} of {total} · {STEP_KIND_LABELS[step.kind]}
      </Text>
      <Text size="xl" fw={600}>
        {step.text}
      </Text>
      {step.sequence && (
        <Text size="xl" ff="monospace">
          {step.sequence}
        </Text>
      )}
      {timed > 0 && (
        <Group justify="center">
          <RingProgress
            size={220}
            thickness={18}
            sections={[{ value: ((timed - left) / timed) * 100, color: ready ? 'green' : 'blue' }]}
            label={
              <Text ta="center" fz={64} fw={700} data-testid="timer">
                {left}
              </Text>
            }
          />
        </Group>
      )}
      {timed > 0 && startedAt === null && (
        <Big onClick={() => (held ? onStart() : setLocalStart(Date.now()))} variant="light" disabled={busy} data-testid="start-timer">
          {held ? `Press and hold now: start the ${timed} s timer` : `Start the ${timed} s timer`}
        </Big>
      )}
      {held && startedAt !== null && left > 0 && (
        <Button variant="subtle" onClick={onStart} disabled={busy}>
          Let go too early? Start the hold again
        </Button>
      )}
      <Big onClick={onDone} disabled={busy || !ready} data-testid="tick">
        ✓ Done
      </Big>
    </Stack>
  );
}

/**
 * The account side of a reset: where the driver can, lockwarden removes the lock from the vendor
 * account itself; otherwise the person does it on the account and records it, with a photo or
 * screenshot as evidence. Verification re-reads the lock either way.
 */
function AccountSide({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const canManage = useCan('reset.manage');
  const enrollment = useEnrollment(v.case.id, canManage);
  const [note, setNote] = useState('');
  const [photos, setPhotos] = useState<string[]>([]);
  if (!canManage) return <Text>A manager removes the lock from its vendor account.</Text>;
  return (
    <Card withBorder data-testid="account-side">
      <Stack>
        <Text size="sm">This model keeps its cloud account binding through a local reset, so the previous account would keep the lock. Remove the lock from the vendor account first; verification reads the lock again to check it.</Text>
        {enrollment.isPending ? (
          <Loader size="sm" />
        ) : enrollment.data?.cloudUnbind ? (
          <Big onClick={() => send({ type: 'unbind_cloud' })} disabled={busy} data-testid="unbind-cloud">
            Remove it from the vendor account now
          </Big>
        ) : (
          <>
            <Text size="sm" fw={600}>
              lockwarden cannot do this for this lock: sign in to the vendor&apos;s app or website as the account owner, remove the lock there, then record it here.
            </Text>
            <Textarea label="What you did (which account, when)" value={note} onChange={(e) => setNote(e.currentTarget.value)} autosize minRows={2} />
            <CheckPhotos caseId={v.case.id} check="cloud_unbound" ids={photos} onChange={setPhotos} />
            <Big onClick={() => send({ type: 'confirm_account_unbound', note, evidence: photos })} disabled={busy || !note.trim()} data-testid="confirm-unbound">
              Removed from the account
            </Big>
          </>
        )}
      </Stack>
    </Card>
  );
}

/**
 * Enrolling the lock again after its reset, as its driver does it: a code from the label where it
 * needs one, the security where the protocol offers a choice, a link to reconnect an account where
 * the service gives one. The request waits for the lock; "Stop waiting" ends it.
 */
function Reenroll({ v }: { v: CaseViewJson }) {
  const c = v.case;
  const enrollment = useEnrollment(c.id, true);
  const reenroll = useReenroll(c.id);
  const [code, setCode] = useState('');
  const [security, setSecurity] = useState<string | null>(null);
  const m = enrollment.data?.method ?? null;
  const prep = enrollment.data?.preparation ?? null;
  const needsCode = m ? m.code !== 'none' : true;
  const codeLabel = m?.code === 'dsk_pin' ? 'The 5-digit PIN under the QR code on the lock’s label' : 'The setup or pairing code from the lock’s label';
  const error = reenroll.isError && !(reenroll.error instanceof DOMException) ? reenroll.error.message : null;
  return (
    <Card withBorder data-testid="reenroll">
      <Stack>
        <Text fw={600}>Enroll the lock again</Text>
        {enrollment.isPending && <Loader size="sm" />}
        {enrollment.data?.unavailable && <Text size="sm">{enrollment.data.unavailable}</Text>}
        {m && <Text size="sm">{m.instructions}</Text>}
        {prep && prep.instructions !== m?.instructions && <Text size="sm">{prep.instructions}</Text>}
        {prep?.url && (
          <Anchor href={prep.url} target="_blank" rel="noreferrer" data-testid="reconnect-link">
            Open the page that reconnects the lock’s account
          </Anchor>
        )}
        {needsCode && !enrollment.data?.unavailable && (
          <TextInput label={codeLabel} value={code} onChange={(e) => setCode(e.currentTarget.value)} inputMode="numeric" autoComplete="off" size="lg" data-testid="enroll-code" />
        )}
        {m && m.security.length > 1 && (
          <Select
            label="Security"
            data={m.security.map((s) => ({ value: s, label: s === 's2' ? 'S2 (recommended)' : s === 's0' ? 'S0 (older locks)' : 'No encryption (only if the lock allows nothing else)' }))}
            value={security ?? m.security[0]!}
            onChange={setSecurity}
          />
        )}
        {error && (
          <Alert color="red" data-testid="reenroll-error">
            {error}
          </Alert>
        )}
        {reenroll.isPending ? (
          <Group>
            <Loader size="sm" />
            <Text size="sm">Waiting for the lock (up to two minutes)…</Text>
            <Button variant="subtle" onClick={reenroll.cancel}>
              Stop waiting
            </Button>
          </Group>
        ) : (
          !enrollment.data?.unavailable && (
            <Big
              onClick={() => reenroll.mutate({ lockId: v.lock.id, ...(code.trim() ? { code: code.trim() } : {}), ...(m && m.security.length > 1 ? { security: security ?? m.security[0]! } : {}) })}
              disabled={needsCode && !code.trim()}
              data-testid="reenroll-start"
            >
              Enroll it with lockwarden
            </Big>
          )
        )}
      </Stack>
    </Card>
  );
}

/** What fixes a failed automatic check, next to it: an action where lockwarden can do it, words where a person must. */
function CheckFix({ v, check, send, busy }: { v: CaseViewJson; check: string; send: Send; busy: boolean }) {
  const c = v.case;
  const canManage = useCan('reset.manage');
  const enrollment = useEnrollment(c.id, check === 'cloud_unbound');
  const m = c.verification[check as keyof typeof c.verification];
  if (!m || m.passed) return null;
  switch (check) {
    case 'setup_mode':
    case 'prior_pins_gone':
      return <Text size="xs">Repeat the reset below (check the hold time, the battery and whether the lock must come off the door), or record it as blocked if it cannot be done.</Text>;
    case 'cloud_unbound':
      return enrollment.data?.cloudUnbind && canManage ? (
        <Button size="xs" variant="light" onClick={() => send({ type: 'unbind_cloud' })} disabled={busy} data-testid="fix-cloud_unbound">
          Remove it from the vendor account now
        </Button>
      ) : (
        <Text size="xs">Remove the lock from the vendor account in the vendor’s app or website, then run the lock’s checks again.</Text>
      );
    case 'prior_controllers_refused':
      return <StillPaired v={v} send={send} busy={busy} />;
    case 'admin_enrollment_accepted':
      return <Text size="xs">{c.reenrollment ? 'Run the lock’s checks again; if it still refuses, repeat the reset.' : 'Enroll the lock again (below); the checks run by themselves after it.'}</Text>;
    default:
      return null;
  }
}

/** Controllers that were on the lock before the reset and still are, each with a button that unpairs it. */
function StillPaired({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const m = v.case.verification.prior_controllers_refused;
  const still = (m?.evidence ?? []).flatMap((e) => {
    const hit = /^controller:([^|]+)\|(.*)$/.exec(e);
    return hit ? [{ id: hit[1]!, label: hit[2]! }] : [];
  });
  if (still.length === 0) return <Text size="xs">Run the lock’s checks again once the lock answers.</Text>;
  return (
    <Group gap="xs">
      {still.map((x) => (
        <Button key={x.id} size="xs" variant="light" color="red" onClick={() => send({ type: 'remove_prior_controller', lockId: v.lock.id, controllerId: x.id })} disabled={busy}>
          Remove {x.label}
        </Button>
      ))}
    </Group>
  );
}

function Verification({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const c = v.case;
  const canPerform = useCan('reset.perform');
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [photos, setPhotos] = useState<Record<string, string[]>>({});
  const [block, setBlock] = useState<string | null>(null);
  const manual = new Set<string>(MANUAL_CHECKS);
  const canEnroll = canPerform && !c.reenrollment && (c.verification.setup_mode?.passed || c.replacement);
  return (
    <Card withBorder data-testid="verification">
      <Stack>
        {c.reenrollment && (
          <Text size="sm" data-testid="reenrolled">
            Enrolled with lockwarden again {formatDate(c.reenrollment.at)}
            {c.reenrollment.manufacturer || c.reenrollment.model ? ` (the device reports ${[c.reenrollment.manufacturer, c.reenrollment.model].filter(Boolean).join(' ')})` : ''}.
          </Text>
        )}
        {canEnroll && <Reenroll v={v} />}
        {v.requiredChecks.map((check) => {
          const m = c.verification[check];
          return (
            <Stack key={check} gap={4}>
              <Group justify="space-between" wrap="nowrap">
                <Text size="sm">{CHECK_LABELS[check]}</Text>
                <Badge color={m ? (m.passed ? 'green' : 'red') : 'gray'} data-testid={`check-${check}`}>
                  {m ? (m.passed ? 'passed' : 'failed') : 'to do'}
                </Badge>
              </Group>
              {m?.note && <Text size="xs" c="dimmed">{m.note}</Text>}
              {canPerform && !manual.has(check) && <CheckFix v={v} check={check} send={send} busy={busy} />}
              {m && m.evidence.filter((e) => !e.startsWith('controller:')).length > 0 && (
                <Group gap={4}>
                  {m.evidence.filter((e) => !e.startsWith('controller:')).map((e) =>
                    /^[0-9a-f-]{36}$/.test(e) ? <Image key={e} src={`${photoUrl(c.id, e)}/thumbnail`} alt="evidence photo" h={40} w={56} fit="cover" radius="sm" /> : <Text key={e} size="xs">{e}</Text>,
                  )}
                </Group>
              )}
              {canPerform && manual.has(check) && !m?.passed && (
                <>
                  <Group grow>
                    <Textarea placeholder="note" autosize minRows={1} value={notes[check] ?? ''} onChange={(e) => setNotes({ ...notes, [check]: e.currentTarget.value })} />
                    <Button color="green" onClick={() => send({ type: 'manual_check', lockId: v.lock.id, check, passed: true, note: notes[check] ?? '', evidence: photos[check] ?? [] })} disabled={busy}>
                      Pass
                    </Button>
                    <Button color="red" variant="light" onClick={() => send({ type: 'manual_check', lockId: v.lock.id, check, passed: false, note: notes[check] ?? '', evidence: photos[check] ?? [] })} disabled={busy}>
                      Fail
                    </Button>
                  </Group>
                  <CheckPhotos caseId={c.id} check={check} ids={photos[check] ?? []} onChange={(ids) => setPhotos((p) => ({ ...p, [check]: ids }))} />
                </>
              )}
            </Stack>
          );
        })}
        {canPerform && (
          <>
            <Big variant="light" onClick={() => send({ type: 'run_checks', lockId: v.lock.id })} disabled={busy} data-testid="run-checks">
              Run the lock’s checks
            </Big>
            <Big onClick={() => send({ type: 'complete_verification' })} disabled={busy || v.missing.length > 0}>
              Verification complete
            </Big>
            {!c.replacement && (
              <Button variant="subtle" onClick={() => send({ type: 'retry_reset' })} disabled={busy} data-testid="retry-reset">
                Repeat the reset
              </Button>
            )}
            {!c.verification.setup_mode?.passed && (
              <Group align="end" grow>
                <Select label="The reset cannot be done" placeholder="why" data={RESET_BLOCK_REASONS.map((r) => ({ value: r, label: BLOCK_LABELS[r] }))} value={block} onChange={setBlock} />
                <Button color="red" variant="light" disabled={!block || busy} onClick={() => send({ type: 'report_blocked', reason: block })}>
                  Record as blocked
                </Button>
              </Group>
            )}
          </>
        )}
      </Stack>
    </Card>
  );
}

function Rebuild({ v, send, busy }: { v: CaseViewJson; send: Send; busy: boolean }) {
  const [reissue, setReissue] = useState<string[]>([]);
  const canPerform = useCan('reset.perform');
  return (
    <Card withBorder>
      <Stack>
        {v.lockedOut.length > 0 && (
          <>
            <Text size="sm">Restore these PINs on the lock; tick the ones to reissue with a new code (a compromised code).</Text>
            {v.lockedOut.map((i) => (
              <Checkbox key={i.key} label={`${i.label}: new code`} checked={reissue.includes(i.key)} onChange={(e) => setReissue(e.currentTarget.checked ? [...reissue, i.key] : reissue.filter((k) => k !== i.key))} />
            ))}
            {canPerform && (
              <Big onClick={() => send({ type: 'rebuild', reissue })} disabled={busy}>
                Restore on the lock
              </Big>
            )}
          </>
        )}
        {canPerform && (
          <Big onClick={() => send({ type: 'complete_rebuild' })} disabled={busy || v.lockedOut.length > 0}>
            Rebuild complete
          </Big>
        )}
      </Stack>
    </Card>
  );
}

function History({ v }: { v: CaseViewJson }) {
  return (
    <Card withBorder>
      <Title order={4} mb="sm">
        Steps
      </Title>
      <Timeline bulletSize={14} lineWidth={2}>
        {v.steps.map((s) => (
          <Timeline.Item key={s.seq} title={`${s.command.replace(/_/g, ' ')}${s.phase === 'intent' ? ' (sent)' : ''}`}>
            <Text size="xs" c="dimmed">
              {s.actor} · {formatDate(s.at)} · {STATE_LABELS[s.stateBefore as keyof typeof STATE_LABELS]} → {STATE_LABELS[s.stateAfter as keyof typeof STATE_LABELS]}
            </Text>
          </Timeline.Item>
        ))}
      </Timeline>
    </Card>
  );
}
