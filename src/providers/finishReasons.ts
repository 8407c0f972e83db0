/**
 * Why a model stopped, per choice, in the provider's own words (the GenAI conventions'
 * `gen_ai.response.finish_reasons`). Choices of a stream may finish in any order; the list is
 * by choice index.
 */
export class FinishReasons {
  private readonly byIndex = new Map<number, string>();

  /** Records the reason of choice `index`; anything but a non-empty string is ignored. */
  set(index: number, reason: unknown): void {
    if (typeof reason === 'string' && reason !== '') this.byIndex.set(index, reason);
  }

  list(): string[] {
    if (this.byIndex.size === 0) return [];
    return [...this.byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, reason]) => reason);
  }
}

/** A single-choice provider's reason as the list: empty when it gave none. */
export function onlyReason(reason: unknown): string[] {
  return typeof reason === 'string' && reason !== '' ? [reason] : [];
}
