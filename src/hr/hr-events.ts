// The HR events we accept (POST /v1/hr/events), validated at the edge.
import { z } from 'zod';

const id = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ : @ -');
const attribute = z.string().min(1).max(256).nullable().optional();

const person = {
  userId: id.optional(),
  email: z.string().email().optional(),
};
const named = (d: { userId?: string; email?: string }) => Boolean(d.userId || d.email);

export const hrEvent = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('employee.offboarded'),
    data: z.object(person).refine(named, 'userId or email is required'),
  }),
  z.object({
    type: z.literal('employee.updated'),
    data: z
      .object({
        ...person,
        department: attribute,
        title: attribute,
        /** The manager's person id; null clears it. */
        manager: id.nullable().optional(),
        userType: attribute,
        /** Group ids the person holds afterwards (all of them). */
        groups: z.array(id).max(500).optional(),
      })
      .refine(named, 'userId or email is required'),
  }),
]);

export type HrEvent = z.infer<typeof hrEvent>;
export type EmployeeUpdated = Extract<HrEvent, { type: 'employee.updated' }>['data'];
