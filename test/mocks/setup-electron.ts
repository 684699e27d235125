import { vi } from 'vitest'

// Every main and preload test runs against the one fake; the real binary is never launched.
vi.mock('electron', () => import('./electron'))
