/** A fixed creation time: the mock's catalogue does not change between runs. */
const CREATED = 1_715_367_049;

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export function modelObject(id: string): ModelObject {
  return { id, object: 'model', created: CREATED, owned_by: 'system' };
}

export function modelListBody(models: readonly string[]): { object: 'list'; data: ModelObject[] } {
  return { object: 'list', data: models.map(modelObject) };
}
