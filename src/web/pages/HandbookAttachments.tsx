/** Photos, diagrams and PDFs of a handbook entry: thumbnails (in their step or in their own section), the full image on click, upload and delete for writers. */
import { useState } from 'react';
import { ActionIcon, Alert, Anchor, Button, Card, FileInput, Group, Image, Modal, Select, SimpleGrid, Stack, Text, TextInput, Title, Tooltip } from '@mantine/core';
import { notifications } from '@mantine/notifications';
import { IconFileTypePdf, IconTrash } from '@tabler/icons-react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ATTACHMENT_LIMITS, type AttachmentInfo } from '../../domain/attachments.js';
import { api, formAlert, uploadFile, type Wire } from '../api.js';

export type AttachmentJson = Wire<AttachmentInfo>;

const base = (entryId: string) => `/api/handbook/entries/${entryId}/attachments`;
export const attachmentUrl = (a: Pick<AttachmentJson, 'entryId' | 'id'>) => `${base(a.entryId)}/${a.id}`;

export const useAttachments = (entryId: string | undefined) =>
  useQuery({ queryKey: ['handbook', 'attachments', entryId], enabled: !!entryId, queryFn: async () => (await api<{ items: AttachmentJson[] }>('GET', base(entryId!))).items });

function sizeLabel(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

/** A row of thumbnails; an image opens full size in a dialog, a PDF downloads. */
export function AttachmentThumbs({ items, canWrite }: { items: AttachmentJson[]; canWrite: boolean }) {
  const [open, setOpen] = useState<AttachmentJson | null>(null);
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: (a: AttachmentJson) => api<void>('DELETE', attachmentUrl(a)),
    onSuccess: async (_v, a) => {
      notifications.show({ message: `Removed ${a.filename}` });
      await queryClient.invalidateQueries({ queryKey: ['handbook', 'attachments', a.entryId] });
    },
    onError: (e) => notifications.show({ color: 'red', message: e.message }),
  });
  if (items.length === 0) return null;
  return (
    <>
      <Group gap="sm" align="flex-start" data-testid="attachment-thumbs">
        {items.map((a) => (
          <Card key={a.id} withBorder padding={4} w={172} data-testid="attachment">
            {a.hasThumbnail ? (
              <Anchor
                href={attachmentUrl(a)}
                onClick={(ev) => {
                  ev.preventDefault();
                  setOpen(a);
                }}
              >
                <Image src={`${attachmentUrl(a)}/thumbnail`} alt={a.caption || a.filename} h={120} fit="contain" data-testid="attachment-thumbnail" />
              </Anchor>
            ) : (
              <Anchor href={attachmentUrl(a)} download={a.filename}>
                <Group h={120} justify="center">
                  <IconFileTypePdf size={56} />
                </Group>
              </Anchor>
            )}
            <Group gap={4} wrap="nowrap" justify="space-between">
              <Text size="xs" lineClamp={2} title={a.filename}>
                {a.caption || a.filename}
                <Text span c="dimmed" size="xs">
                  {' '}
                  · {sizeLabel(a.size)}
                </Text>
              </Text>
              {canWrite && (
                <Tooltip label="Remove">
                  <ActionIcon
                    variant="subtle"
                    color="red"
                    size="sm"
                    aria-label={`Remove ${a.filename}`}
                    loading={remove.isPending && remove.variables?.id === a.id}
                    onClick={() => {
                      if (window.confirm(`Remove ${a.filename}? This is recorded.`)) remove.mutate(a);
                    }}
                  >
                    <IconTrash size={14} />
                  </ActionIcon>
                </Tooltip>
              )}
            </Group>
          </Card>
        ))}
      </Group>
      <Modal opened={open !== null} onClose={() => setOpen(null)} size="auto" title={open?.caption || open?.filename}>
        {open && (
          <Stack>
            <img src={attachmentUrl(open)} alt={open.caption || open.filename} style={{ maxWidth: '85vw', maxHeight: '80vh' }} data-testid="attachment-full" />
            <Text size="xs" c="dimmed">
              {open.filename} · {open.width}×{open.height} · added by {open.createdBy}
            </Text>
          </Stack>
        )}
      </Modal>
    </>
  );
}

/**
 * The "Photos and diagrams" section: what is tied to no step (or to a step the current revision no
 * longer has), and for writers the upload form.
 */
export function AttachmentsSection({ entryId, stepCount, items, canWrite }: { entryId: string; stepCount: number; items: AttachmentJson[]; canWrite: boolean }) {
  const loose = items.filter((a) => a.step === null || a.step > stepCount);
  if (!canWrite && loose.length === 0) return null;
  return (
    <Card withBorder data-testid="attachments">
      <Title order={4} mb="xs">
        Photos and diagrams
      </Title>
      <Stack>
        {loose.length === 0 ? <Text c="dimmed">None for the whole entry{items.length ? '; the others are shown in their steps' : ''}.</Text> : <AttachmentThumbs items={loose} canWrite={canWrite} />}
        {canWrite && <UploadForm entryId={entryId} stepCount={stepCount} count={items.length} />}
      </Stack>
    </Card>
  );
}

function UploadForm({ entryId, stepCount, count }: { entryId: string; stepCount: number; count: number }) {
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [caption, setCaption] = useState('');
  const [step, setStep] = useState<string | null>(null);
  const upload = useMutation({
    mutationFn: () => {
      const q = new URLSearchParams();
      if (caption.trim()) q.set('caption', caption.trim());
      if (step) q.set('step', step);
      return uploadFile<AttachmentJson>(`${base(entryId)}${q.size ? `?${q}` : ''}`, file!);
    },
    onSuccess: async (a) => {
      notifications.show({ message: `Added ${a.filename}` });
      setFile(null);
      setCaption('');
      setStep(null);
      await queryClient.invalidateQueries({ queryKey: ['handbook', 'attachments', entryId] });
    },
  });
  const full = count >= ATTACHMENT_LIMITS.perEntry;
  const tooBig = file !== null && file.size > ATTACHMENT_LIMITS.maxBytes;
  const alert = tooBig ? `${file.name} is ${sizeLabel(file.size)}; an attachment may be at most 5 MB` : formAlert(upload.error, []);
  return (
    <Stack gap="xs" data-testid="attachment-upload">
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <FileInput label="Photo, diagram or PDF" placeholder="PNG, JPEG, WebP or PDF, up to 5 MB" accept="image/png,image/jpeg,image/webp,application/pdf" value={file} onChange={setFile} clearable disabled={full} />
        <TextInput label="Caption" value={caption} maxLength={ATTACHMENT_LIMITS.caption} onChange={(ev) => setCaption(ev.currentTarget.value)} disabled={full} />
        <Select
          label="Step (optional)"
          placeholder="Whole entry"
          clearable
          data={Array.from({ length: stepCount }, (_, i) => ({ value: String(i + 1), label: `Step ${i + 1}` }))}
          value={step}
          onChange={setStep}
          disabled={full}
        />
      </SimpleGrid>
      {alert && <Alert color="red">{alert}</Alert>}
      <Group justify="space-between">
        <Text size="xs" c="dimmed">
          {count} of {ATTACHMENT_LIMITS.perEntry} attachments. Location and camera data are removed from photos. Adding and removing are recorded.
        </Text>
        <Button onClick={() => upload.mutate()} loading={upload.isPending} disabled={!file || tooBig || full}>
          Upload
        </Button>
      </Group>
    </Stack>
  );
}
