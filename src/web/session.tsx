import { createContext, useContext, type ReactNode } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { User } from '../domain/identity.js';
import { api, ApiError, setCsrfToken, type Wire } from './api.js';

export interface Me {
  user: Wire<User>;
  csrfToken: string;
  allowedActions: string[];
  /** Actions held organisation-wide: pages with no place are shown only for these. */
  organisationActions: string[];
  mustSetPassword?: boolean;
  /** `full`, or limited to giving the second factor / enrolling one (the owner's policy). */
  stage?: 'full' | 'second_factor' | 'enrolment';
  secondFactorMethods?: ('totp' | 'webauthn' | 'recovery')[];
}

const SessionContext = createContext<Me | null>(null);

/** Loads the signed-in user; `null` while signed out. */
export function useMeQuery(enabled = true) {
  return useQuery({
    enabled,
    queryKey: ['me'],
    queryFn: async () => {
      try {
        const me = await api<Me>('GET', '/api/auth/me');
        setCsrfToken(me.csrfToken);
        return me;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    retry: false,
  });
}

export function SessionProvider({ me, children }: { me: Me; children: ReactNode }) {
  return <SessionContext.Provider value={me}>{children}</SessionContext.Provider>;
}

/** The current session; only used inside the signed-in app. */
export function useSession(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error('useSession outside the signed-in app');
  return me;
}

/** Whether the current user may do `action` (the server decides again; this only hides buttons). */
export function useCan(action: string): boolean {
  return useSession().allowedActions.includes(action);
}
