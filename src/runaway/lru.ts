interface Node<V> {
  key: string;
  value: V;
  older: Node<V> | null;
  newer: Node<V> | null;
}

/**
 * A map that keeps its entries in the order they were last set, with O(1) access to the oldest.
 * A plain Map re-inserted on touch keeps that order too, but V8 leaves a hole for every deleted
 * entry and iteration walks the holes: dropping the oldest entry of a busy Map costs O(size).
 */
export class LruMap<V> {
  private readonly nodes = new Map<string, Node<V>>();
  private oldestNode: Node<V> | null = null;
  private newestNode: Node<V> | null = null;

  get size(): number {
    return this.nodes.size;
  }

  /** Reads without changing the order. */
  get(key: string): V | undefined {
    return this.nodes.get(key)?.value;
  }

  /** Inserts or replaces, and makes the entry the newest. */
  set(key: string, value: V): void {
    const existing = this.nodes.get(key);
    if (existing) {
      existing.value = value;
      this.unlink(existing);
      this.append(existing);
      return;
    }
    const node: Node<V> = { key, value, older: null, newer: null };
    this.nodes.set(key, node);
    this.append(node);
  }

  delete(key: string): boolean {
    const node = this.nodes.get(key);
    if (!node) return false;
    this.unlink(node);
    this.nodes.delete(key);
    return true;
  }

  /** Drops the oldest entries while `expired` holds for them, then while there are more than `max`. */
  evict(max: number, expired: (value: V) => boolean = () => false): void {
    let node = this.oldestNode;
    while (node && (this.nodes.size > max || expired(node.value))) {
      const next = node.newer;
      this.delete(node.key);
      node = next;
    }
  }

  /** Entries from oldest to newest. */
  *entries(): IterableIterator<[string, V]> {
    for (let node = this.oldestNode; node; node = node.newer) yield [node.key, node.value];
  }

  private append(node: Node<V>): void {
    node.older = this.newestNode;
    node.newer = null;
    if (this.newestNode) this.newestNode.newer = node;
    else this.oldestNode = node;
    this.newestNode = node;
  }

  private unlink(node: Node<V>): void {
    if (node.older) node.older.newer = node.newer;
    else this.oldestNode = node.newer;
    if (node.newer) node.newer.older = node.older;
    else this.newestNode = node.older;
    node.older = null;
    node.newer = null;
  }
}
