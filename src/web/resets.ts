/** Reset cases in the browser: queries, one step at a time with an idempotency key, and labels. */
import { useRef } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ResetCase, ResetReason, ResetRemedy, ResetState, VerificationCheck, PreflightCheck, ResetBlockReason } from '../domain/reset-case.js';
import type { ResetCaseView, ResetEnrollmentView } from '../services/reset-case-service.js';
import type { ResetPhotoInfo } from '../services/reset-photo-service.js';
import { api, ApiError, uploadFile, type Wire } from './api.js';

export type CaseViewJson = Wire<ResetCaseView>;
export type CaseJson = Wire<ResetCase>;

export const REASON_LABELS: Record<ResetReason, string> = {
  occupancy_change: 'Occupancy change',
  ownership_transfer: 'Ownership transfer',
  unknown_admin_detected: 'Unknown admin detected',
  credential_compromise: 'Credential compromise',
  lost_admin_phone: 'Lost admin phone',
  management_app_replaced: 'Management app replaced',
  pairing_loop: 'Stuck in a pairing loop',
  cannot_authenticate_controller: 'Cannot authenticate to the controller',
  firmware_inconsistent: 'Firmware left the configuration inconsistent',
  door_does_not_latch: 'The door does not latch',
};

export const REMEDY_LABELS: Record<ResetRemedy, string> = {
  full_reset: 'Full factory reset',
  rotate_codes: 'Rotate codes',
  remove_controller: 'Remove one controller',
  re_pair: 'Re-pair',
  fix_door_alignment: "Fix the door's alignment",
};

export const STATE_LABELS: Record<ResetState, string> = {
  triage: 'Triage',
  preflight: 'Preflight',
  snapshot: 'Snapshot',
  account_unbind: 'Account side',
  physical_reset: 'Reset at the door',
  replace_device: 'Replace the device',
  verification: 'Verification',
  rebuild: 'Rebuild',
  close_out: 'Close-out',
  closed: 'Closed',
  cancelled: 'Cancelled',
};

export const PREFLIGHT_LABELS: Record<PreflightCheck, string> = {
  ownership_confirmed: 'Ownership confirmed',
  physical_access_arranged: 'Physical access arranged',
  battery_adequate: 'Battery adequate',
  maintenance_window: 'Inside a maintenance window, no emergency',
  occupants_notified: 'Occupants notified',
  monitoring_notified: 'Monitoring service notified',
};

export const CHECK_LABELS: Record<VerificationCheck, string> = {
  setup_mode: 'Lock in setup mode after the reset',
  prior_pins_gone: 'Every prior PIN gone',
  prior_controllers_refused: 'Every prior controller gone',
  cloud_unbound: 'Cloud account binding removed',
  admin_enrollment_accepted: 'New admin enrollment accepted',
  latch_and_door: 'Latch and door operate',
  power_stable: 'Power stable',
  override_unchanged: 'Physical key override unchanged',
  passwords_changed: 'Account passwords changed',
  automations_rebuilt: 'Automation rules rebuilt',
};

export const BLOCK_LABELS: Record<ResetBlockReason, string> = {
  battery_compartment_inaccessible: 'Battery compartment inaccessible',
  board_fault: 'Control board fault',
  damaged: 'Lock damaged',
  does_not_enter_setup_mode: 'Does not enter setup mode',
};

export const useResetCase = (id: string | undefined) =>
  useQuery({ queryKey: ['reset-case', id], enabled: id !== undefined, queryFn: () => api<CaseViewJson>('GET', `/api/reset-cases/${id}`) });

export const useResetCases = (query = '', enabled = true) =>
  useQuery({ queryKey: ['reset-cases', query], enabled, queryFn: async () => (await api<{ items: (CaseJson & { version: number })[] }>('GET', `/api/reset-cases${query}`)).items });

/** A random key; `crypto.randomUUID` is missing on plain http (a phone on the LAN), `getRandomValues` is not. */
function newKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Sends one step. A request that got no answer (network trouble) keeps its idempotency key, so
 * pressing the button again repeats the same step instead of doing it twice; an answer (success or
 * a refusal) ends the key.
 */
export function useStep(caseId: string) {
  const queryClient = useQueryClient();
  const pending = useRef(new Map<string, string>());
  return useMutation({
    mutationFn: (command: { type: string } & Record<string, unknown>) => {
      const sig = JSON.stringify(command);
      let key = pending.current.get(sig);
      if (!key) {
        key = newKey();
        pending.current.set(sig, key);
      }
      return api<CaseViewJson>('POST', `/api/reset-cases/${caseId}/steps`, { idempotencyKey: key, command }).then(
        (v) => {
          pending.current.delete(sig);
          return v;
        },
        (e: unknown) => {
          if (e instanceof ApiError) pending.current.delete(sig);
          throw e;
        },
      );
    },
    onSuccess: async (v) => {
      queryClient.setQueryData(['reset-case', caseId], v);
      await queryClient.invalidateQueries({ queryKey: ['reset-cases'] });
    },
  });
}

/** How the case's lock enrolls again (the driver's method and what the person needs first). */
export const useEnrollment = (caseId: string, enabled: boolean) =>
  useQuery({ queryKey: ['reset-case-enrollment', caseId], enabled, staleTime: 60_000, queryFn: () => api<ResetEnrollmentView>('GET', `/api/reset-cases/${caseId}/enrollment`) });

/**
 * Enrolls the case's lock again: the request waits for the lock (up to the timeout), and `cancel`
 * closes it, which makes the server stop waiting (inclusion or joining is stopped again).
 */
export function useReenroll(caseId: string) {
  const queryClient = useQueryClient();
  const abort = useRef<AbortController | null>(null);
  const mutation = useMutation({
    mutationFn: (command: { lockId: string; code?: string; security?: string }) => {
      abort.current = new AbortController();
      return api<CaseViewJson>('POST', `/api/reset-cases/${caseId}/steps`, { idempotencyKey: newKey(), command: { type: 'reenroll', ...command } }, abort.current.signal);
    },
    onSuccess: (v) => queryClient.setQueryData(['reset-case', caseId], v),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['reset-case', caseId] }),
  });
  return { ...mutation, cancel: () => abort.current?.abort() };
}

export type PhotoJson = Wire<ResetPhotoInfo>;

export const photoUrl = (caseId: string, photoId: string) => `/api/reset-cases/${caseId}/photos/${photoId}`;

export const useCasePhotos = (caseId: string) =>
  useQuery({ queryKey: ['reset-case-photos', caseId], queryFn: async () => (await api<{ items: PhotoJson[] }>('GET', `/api/reset-cases/${caseId}/photos`)).items });

/** Uploads one photo to a case (the server checks the type from its content and strips its metadata). */
export function useUploadPhoto(caseId: string) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ file, caption }: { file: File; caption: string }) => uploadFile<PhotoJson>(`/api/reset-cases/${caseId}/photos${caption ? `?caption=${encodeURIComponent(caption)}` : ''}`, file),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['reset-case-photos', caseId] }),
  });
}
