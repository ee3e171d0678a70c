// /scim/v2 (RFC 7644), role `scim`: the resource endpoints behind one set of routes, and the
// discovery documents. Translates HTTP to an endpoint call and back; errors are SCIM errors.
import { All, Body, Controller, Delete, Get, Headers, HttpCode, Inject, Param, Patch, Post, Put, Query, Req, Res, UseFilters, UseInterceptors } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Roles } from '../auth/auth.guard';
import type { ScimEndpoint } from './endpoint';
import { listResponse, parseListQuery, project, projectionOf, type ScimResource } from './query';
import { ScimError } from './scim-error';
import { SCIM_PREFIX, ScimContentType, ScimExceptionFilter } from './scim-http';
import { RESOURCE_TYPES, resourceType, schemaResources, serviceProviderConfig } from './schemas';

export const SCIM_ENDPOINTS = Symbol('SCIM_ENDPOINTS');

const baseOf = (req: FastifyRequest) => `${req.protocol}://${req.headers.host ?? 'localhost'}${SCIM_PREFIX}`;

@Controller('scim/v2')
@Roles('scim')
@UseFilters(ScimExceptionFilter)
@UseInterceptors(ScimContentType)
export class ScimController {
  constructor(@Inject(SCIM_ENDPOINTS) private readonly endpoints: Record<string, ScimEndpoint>) {}

  @Get('ServiceProviderConfig')
  serviceProviderConfig(@Req() req: FastifyRequest) {
    return serviceProviderConfig(baseOf(req));
  }

  @Get('ResourceTypes')
  resourceTypes(@Req() req: FastifyRequest) {
    const all = RESOURCE_TYPES.map((t) => resourceType(t, baseOf(req)));
    return listResponse(all, all.length, 1);
  }

  @Get('ResourceTypes/:name')
  resourceType(@Req() req: FastifyRequest, @Param('name') name: string) {
    const t = RESOURCE_TYPES.find((r) => r.name === name);
    if (!t) throw new ScimError(404, `No resource type ${name}.`);
    return resourceType(t, baseOf(req));
  }

  @Get('Schemas')
  schemas(@Req() req: FastifyRequest) {
    const all = schemaResources(baseOf(req));
    return listResponse(all, all.length, 1);
  }

  @Get('Schemas/:id')
  schema(@Req() req: FastifyRequest, @Param('id') id: string) {
    const s = schemaResources(baseOf(req)).find((r) => r.id === id);
    if (!s) throw new ScimError(404, `No schema ${id}.`);
    return s;
  }

  @Get(':type')
  async list(@Req() req: FastifyRequest, @Param('type') type: string, @Query() query: Record<string, unknown>) {
    const endpoint = this.endpoint(type);
    const q = parseListQuery(query);
    const page = await endpoint.list(q, baseOf(req));
    return listResponse(
      page.resources.map((r) => project(r, q, endpoint.schema)),
      page.total,
      q.startIndex,
    );
  }

  @Get(':type/:id')
  async get(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Param('type') type: string, @Param('id') id: string, @Query() query: Record<string, unknown>) {
    const endpoint = this.endpoint(type);
    return this.answer(reply, await endpoint.get(id, baseOf(req)), endpoint, query);
  }

  @Post(':type')
  @HttpCode(201)
  async create(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply, @Param('type') type: string, @Body() body: unknown, @Query() query: Record<string, unknown>) {
    const endpoint = this.endpoint(type);
    const created = await endpoint.create(body, baseOf(req));
    void reply.header('location', created.meta.location);
    return this.answer(reply, created, endpoint, query);
  }

  @Put(':type/:id')
  async replace(
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('type') type: string,
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() query: Record<string, unknown>,
  ) {
    const endpoint = this.endpoint(type);
    return this.answer(reply, await endpoint.replace(id, body, ifMatch, baseOf(req)), endpoint, query);
  }

  @Patch(':type/:id')
  async patch(
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Param('type') type: string,
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() query: Record<string, unknown>,
  ) {
    const endpoint = this.endpoint(type);
    return this.answer(reply, await endpoint.patch(id, body, ifMatch, baseOf(req)), endpoint, query);
  }

  @Delete(':type/:id')
  @HttpCode(204)
  async delete(@Param('type') type: string, @Param('id') id: string, @Headers('if-match') ifMatch: string | undefined): Promise<void> {
    await this.endpoint(type).delete(id, ifMatch);
  }

  /** Anything else under /scim/v2 is a SCIM 404, not the API's problem+json. */
  @All('*')
  unknown(@Req() req: FastifyRequest): never {
    throw new ScimError(404, `No SCIM endpoint ${req.method} ${req.url.split('?')[0]}.`);
  }

  private endpoint(type: string): ScimEndpoint {
    const endpoint = this.endpoints[type];
    if (!endpoint) throw new ScimError(404, `No resource type at /${type}; see /ResourceTypes.`);
    return endpoint;
  }

  private answer(reply: FastifyReply, resource: ScimResource, endpoint: ScimEndpoint, query: Record<string, unknown>) {
    void reply.header('etag', resource.meta.version);
    return project(resource, projectionOf(query), endpoint.schema);
  }
}
