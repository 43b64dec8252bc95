import type { ReactNode } from 'react';
import { Center, Paper, Stack, Title } from '@mantine/core';

/** The centred card of the signed-out pages: a titled form that submits without reloading. */
export function AuthCard({ title, width, onSubmit, children }: { title: string; width: number; onSubmit: () => void; children: ReactNode }) {
  return (
    <Center mih="100vh" bg="gray.0" p="sm">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={width}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            onSubmit();
          }}
        >
          <Stack>
            <Title order={2}>{title}</Title>
            {children}
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
