import { useEffect, useState, type ReactNode } from 'react';
import { Alert, AppShell, Badge, Burger, Button, Group, NavLink, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link, useLocation } from 'react-router-dom';
import { api } from './api.js';
import { useSession } from './session.js';

/** The navigation; `organisation` pages have no place, so they need the action organisation-wide. */
const NAV: { to: string; label: string; action: string; organisation?: boolean }[] = [
  { to: '/dashboard', label: 'Dashboard', action: 'reset.read' },
  { to: '/locks', label: 'Locks', action: 'lock.read' },
  { to: '/locations', label: 'Locations', action: 'location.read' },
  { to: '/models', label: 'Models', action: 'model.read' },
  { to: '/handbook', label: 'Handbook', action: 'handbook.read' },
  { to: '/resets', label: 'Reset cases', action: 'reset.read' },
  { to: '/bulk', label: 'Bulk change', action: 'credential.write' },
  { to: '/people', label: 'People and access', action: 'user.read' },
  { to: '/access', label: 'Access requests', action: 'token.manage_own' },
  { to: '/integrations', label: 'Integrations', action: 'integration.manage', organisation: true },
  { to: '/settings/notifications', label: 'Notifications', action: 'integration.manage', organisation: true },
  { to: '/audit', label: 'Audit log', action: 'audit.read', organisation: true },
  { to: '/tokens', label: 'API tokens', action: 'token.manage_own' },
  { to: '/security', label: 'Security', action: 'token.manage_own' },
];

/** The signed-in frame: header with the user, navigation, and a demo banner when the demo is loaded. */
export function Shell({ children }: { children: ReactNode }) {
  const { user, allowedActions, organisationActions } = useSession();
  const location = useLocation();
  // On a phone the navigation is a drawer behind the burger, closed after each navigation.
  const [navOpen, setNavOpen] = useState(false);
  useEffect(() => setNavOpen(false), [location.pathname]);
  const meta = useQuery({ queryKey: ['meta'], queryFn: () => api<{ demo: boolean; version: string; engine: string }>('GET', '/api/meta') });
  const signOut = async () => {
    try {
      await api('POST', '/api/auth/sign-out');
    } finally {
      // A fresh page load drops every cached answer of the old session.
      window.location.assign('/signin');
    }
  };
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !navOpen } }} padding="md">
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group gap="xs">
            <Burger opened={navOpen} onClick={() => setNavOpen((o) => !o)} hiddenFrom="sm" size="sm" aria-label="Navigation" />
            <Title order={3}>lockwarden</Title>
            {meta.data && (
              <Text size="xs" c="dimmed" visibleFrom="sm">
                v{meta.data.version}
              </Text>
            )}
          </Group>
          <Group gap="sm" wrap="nowrap">
            <Text size="sm" data-testid="user-email" truncate maw={{ base: 130, sm: 'none' }}>
              {user.email}
            </Text>
            {user.roles.slice(0, 2).map((r) => (
              <Badge key={`${r.role}:${r.locationId ?? ''}`} variant="light" data-testid="user-role" visibleFrom="sm">
                {r.role}
                {r.locationName ? ` · ${r.locationName}` : ''}
              </Badge>
            ))}
            <Button size="xs" variant="default" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs">
        <Stack gap={2}>
          {NAV.filter((n) => (n.organisation ? organisationActions : allowedActions).includes(n.action)).map((n) => (
            <NavLink key={n.to} component={Link} to={n.to} label={n.label} active={location.pathname.startsWith(n.to)} />
          ))}
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main>
        {meta.data?.demo && (
          <Alert color="yellow" mb="md" data-testid="demo-banner">
            <Text size="sm" fw={600} span>
              Demo fleet: these locks are simulated.
            </Text>{' '}
            <Text size="sm" span>
              Demo locks, models and locations carry a demo badge; real ones you add live beside them.
            </Text>
          </Alert>
        )}
        {children}
      </AppShell.Main>
    </AppShell>
  );
}
