import { z } from 'zod';

// Schema pieces shared by the probe and expectation kinds (and the scenario schema around them).

/** `3`, or a comparison written as text: `>= 3`, `< 64`, `!= 0` */
export const COMPARISON_RE = /^\s*(>=|<=|>|<|==|!=)\s*(-?\d+(\.\d+)?)\s*$/;
export const countLike = z.union([
  z.number().int().min(0),
  z.string().regex(COMPARISON_RE, { error: "expected a number or a comparison such as '>= 3'" }),
]);
export const seconds = z.number().positive().max(60);
export const name = z.string().regex(/^[A-Za-z0-9][\w.:-]*$/, { error: 'names are letters, digits and . _ : -' });

const scalar = z.union([z.string(), z.number(), z.boolean()]);
/** field path → expected value: a value, a comparison ('>= 60'), a symbolic name, or a list of allowed values */
export const fieldMap = z.record(z.string(), z.union([scalar, z.array(scalar).min(1)]));
export type FieldMap = z.infer<typeof fieldMap>;
/** the probe an expectation checks, by name (needed when the step has several of its kind) */
export const probeRef = { probe: name.optional() };
