import { z } from 'zod';

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const idSchema = z
  .string()
  .regex(idPattern, 'must be 1-128 of A-Z a-z 0-9 . _ : - and start with a letter or digit');
