// Bearer tokens with a role; only their SHA-256 hashes are held. Missing/invalid → 401, wrong role → 403.
import { timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { hashToken, type Role, type TokenHash } from '../config/config';
import { Problem } from '../http/problem';

export const ROLES_KEY = 'roles';
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);
export const AUTH_TOKENS = Symbol('AUTH_TOKENS');

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(AUTH_TOKENS) private readonly tokens: TokenHash[],
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, [ctx.getHandler(), ctx.getClass()]);
    if (!roles) return true; // unauthenticated surfaces (health, signed webhooks) carry no @Roles
    const req = ctx.switchToHttp().getRequest<FastifyRequest>();
    const role = this.roleOf(req.headers.authorization);
    if (!role) throw new Problem(401, 'unauthenticated', 'A valid bearer token is required.');
    if (!roles.includes(role)) throw new Problem(403, 'forbidden', `This needs role ${roles.join(' or ')}; the token has role ${role}.`);
    return true;
  }

  roleOf(header: string | undefined): Role | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const presented = Buffer.from(hashToken(m[1]), 'hex');
    return this.tokens.find((t) => timingSafeEqual(Buffer.from(t.sha256, 'hex'), presented))?.role;
  }
}
