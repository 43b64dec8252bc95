import { UnitOccupancy } from './pages/UnitOccupancy.js';
import { NotificationSettings } from './pages/NotificationSettings.js';
import '@mantine/core/styles.css';
import '@mantine/notifications/styles.css';
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { MantineProvider, Center, Loader } from '@mantine/core';
import { Notifications } from '@mantine/notifications';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { ApiError } from './api.js';
import { SessionProvider, useMeQuery } from './session.js';
import { theme } from './theme.js';
import { Shell } from './Shell.js';
import { SignedInRedirect, SignIn } from './pages/SignIn.js';
import { OneTimeSignIn, ChoosePassword } from './pages/OneTime.js';
import { LockList } from './pages/LockList.js';
import { LockDetail } from './pages/LockDetail.js';
import { LockForm } from './pages/LockForm.js';
import { Locations } from './pages/Locations.js';
import { Models } from './pages/Models.js';
import { ModelForm } from './pages/ModelForm.js';
import { Tokens } from './pages/Tokens.js';
import { BulkPage } from './pages/BulkPage.js';
import { Handbook } from './pages/Handbook.js';
import { HandbookEntryPage } from './pages/HandbookEntry.js';
import { PracticePage } from './pages/PracticePage.js';
import { HandbookEditor } from './pages/HandbookEditor.js';
import { HandbookRevisions } from './pages/HandbookRevisions.js';
import { People } from './pages/People.js';
import { AccessRequests } from './pages/AccessRequests.js';
import { AuditLog } from './pages/AuditLog.js';
import { Integrations } from './pages/Integrations.js';
import { ResetCases } from './pages/ResetCases.js';
import { ResetCasePage } from './pages/ResetCasePage.js';
import { Security } from './pages/Security.js';
import { SecondFactorSignIn } from './pages/SecondFactorSignIn.js';
import { StepUpDialog } from './second-factor.js';

// The dashboard carries the chart library: its own chunk, fetched when the page is opened.
const Dashboard = lazy(() => import('./pages/Dashboard.js').then((m) => ({ default: m.Dashboard })));

/** A 401 anywhere means the session ended: forget the user, and the app shows the sign-in page. */
const onError = (e: unknown) => {
  if (e instanceof ApiError && e.status === 401) queryClient.setQueryData(['me'], null);
};
const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError }),
  mutationCache: new MutationCache({ onError }),
  defaultOptions: { queries: { retry: (count, e) => !(e instanceof ApiError && e.status < 500) && count < 1, refetchOnWindowFocus: false } },
});

function App() {
  const location = useLocation();
  const oneTime = location.pathname === '/signin/one-time';
  // No session probe while a one-time link is being spent: its 401 could land after the new session.
  const me = useMeQuery(!oneTime);
  if (oneTime) return <OneTimeSignIn />;
  if (me.isPending) {
    return (
      <Center h="100vh">
        <Loader />
      </Center>
    );
  }
  if (!me.data) {
    return location.pathname === '/signin' ? <SignIn /> : <Navigate to={`/signin?next=${encodeURIComponent(location.pathname + location.search)}`} replace />;
  }
  if (me.data.stage === 'second_factor') return <SecondFactorSignIn me={me.data} />;
  if (me.data.mustSetPassword) return <ChoosePassword />;
  if (me.data.stage === 'enrolment') {
    return (
      <Center mih="100vh" p="md" bg="gray.0">
        <Security required onEnrolled={() => void queryClient.invalidateQueries({ queryKey: ['me'] })} />
      </Center>
    );
  }
  return (
    <SessionProvider me={me.data}>
      <StepUpDialog />
      <Shell>
        <Routes>
          <Route path="/" element={<Navigate to="/locks" replace />} />
          <Route path="/signin" element={<SignedInRedirect />} />
          <Route path="/locks" element={<LockList />} />
          <Route path="/locks/new" element={<LockForm />} />
          <Route path="/locks/:id" element={<LockDetail />} />
          <Route path="/locks/:id/edit" element={<LockForm />} />
          <Route path="/locations" element={<Locations />} />
          <Route path="/models" element={<Models />} />
          <Route path="/models/new" element={<ModelForm />} />
          <Route path="/models/:id/edit" element={<ModelForm />} />
          <Route path="/bulk" element={<BulkPage />} />
          <Route path="/handbook" element={<Handbook />} />
          <Route path="/handbook/new" element={<HandbookEditor />} />
          <Route path="/handbook/entries/:id" element={<HandbookEntryPage />} />
          <Route path="/handbook/entries/:id/edit" element={<HandbookEditor />} />
          <Route path="/handbook/entries/:id/revisions" element={<HandbookRevisions />} />
          <Route path="/practice/:id" element={<PracticePage />} />
          <Route path="/tokens" element={<Tokens />} />
          <Route path="/security" element={<Security showPolicy={me.data.organisationActions.includes('user.write')} showSso={me.data.user.roles.some((r) => r.role === 'owner' && r.locationId === null)} />} />
          <Route path="/people" element={<People />} />
          <Route path="/access" element={<AccessRequests />} />
          <Route path="/audit" element={<AuditLog />} />
          <Route path="/integrations" element={<Integrations />} />
          <Route path="/resets" element={<ResetCases />} />
          <Route path="/resets/:id" element={<ResetCasePage />} />
          <Route path="/units/:id/occupancy" element={<UnitOccupancy />} />
          <Route path="/settings/notifications" element={<NotificationSettings />} />
          <Route
            path="/dashboard"
            element={
              <Suspense fallback={<Loader />}>
                <Dashboard />
              </Suspense>
            }
          />
          <Route path="*" element={<Navigate to="/locks" replace />} />
        </Routes>
      </Shell>
    </SessionProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="light">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <BrowserRouter>
          <App />
        </BrowserRouter>
      </QueryClientProvider>
    </MantineProvider>
  </StrictMode>,
);
