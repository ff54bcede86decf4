/** Start-up data of a history reader thread. */
export interface ReaderData {
  /** The database file, opened read-only. */
  file: string;
  /** Enables the `stall` request, which only tests use. */
  testHooks: boolean;
}

/** One query sent to a reader thread; `id` pairs it with its reply. */
export type ReaderRequest =
  | { id: number; op: 'recent'; roomKey: string; limit: number; uptoId: number | undefined }
  | { id: number; op: 'before'; roomKey: string; beforeId: number; limit: number }
  | { id: number; op: 'search'; roomKey: string; words: string[]; limit: number }
  | { id: number; op: 'stall'; ms: number };

/** A reader thread's answer to one request. */
export type ReaderReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };
