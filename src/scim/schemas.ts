// What this SCIM service provider is (RFC 7643 §5-7): schema URNs, the attributes it knows, its
// resource types and its ServiceProviderConfig, including the agent extension draft
// (draft-abbey-scim-agent-extension-00). Pure data.
export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const AGENT = 'urn:ietf:params:scim:schemas:core:2.0:Agent';
export const AGENTIC_APPLICATION = 'urn:ietf:params:scim:schemas:core:2.0:AgenticApplication';
/** Ours: what the orchestrator adds to an Agent (read-only). */
export const AGENT_GOVERNANCE = 'urn:agent-access:scim:schemas:extension:governance:2.0:Agent';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SPC = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

/** The most resources one list page returns (advertised as filter.maxResults). */
export const MAX_RESULTS = 1000;

type AttrType = 'string' | 'boolean' | 'dateTime' | 'reference' | 'complex' | 'integer';
interface Attribute {
  name: string;
  type: AttrType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: string;
  returned: string;
  uniqueness: string;
  referenceTypes?: string[];
  subAttributes?: Attribute[];
}
interface AttrOptions {
  multiValued?: boolean;
  required?: boolean;
  caseExact?: boolean;
  mutability?: 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
  returned?: 'always' | 'never' | 'default' | 'request';
  uniqueness?: 'none' | 'server' | 'global';
  referenceTypes?: string[];
  subAttributes?: Attribute[];
  description?: string;
}

function attr(name: string, type: AttrType, o: AttrOptions = {}): Attribute {
  return {
    name,
    type,
    multiValued: o.multiValued ?? false,
    description: o.description ?? name,
    required: o.required ?? false,
    caseExact: o.caseExact ?? false,
    mutability: o.mutability ?? 'readWrite',
    returned: o.returned ?? 'default',
    uniqueness: o.uniqueness ?? 'none',
    ...(o.referenceTypes ? { referenceTypes: o.referenceTypes } : {}),
    ...(o.subAttributes ? { subAttributes: o.subAttributes } : {}),
  };
}

const str = (name: string, o: AttrOptions = {}) => attr(name, 'string', o);
const multi = (name: string, sub: Attribute[], o: AttrOptions = {}) => attr(name, 'complex', { multiValued: true, subAttributes: sub, ...o });
const valueRef = (types: string[], o: AttrOptions = {}) => [str('value', o), attr('$ref', 'reference', { referenceTypes: types, ...o }), str('display', { ...o, mutability: 'readOnly' })];
const typedValues = [str('value'), str('display'), str('type'), attr('primary', 'boolean')];

const SCHEMAS = [
  {
    id: USER,
    name: 'User',
    description: 'User Account',
    attributes: [
      str('userName', { required: true, uniqueness: 'server', description: 'Unique identifier for the User, used to sign in.' }),
      attr('name', 'complex', {
        subAttributes: ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'].map((n) => str(n)),
      }),
      str('displayName'),
      str('nickName'),
      attr('profileUrl', 'reference', { referenceTypes: ['external'] }),
      str('title'),
      str('userType', { description: 'e.g. Employee, Contractor, Intern: read by policy rules.' }),
      str('preferredLanguage'),
      str('locale'),
      str('timezone'),
      attr('active', 'boolean', { description: 'false offboards the person: every running task of theirs is revoked.' }),
      multi('emails', typedValues),
      multi('phoneNumbers', typedValues),
      multi('ims', typedValues),
      multi('groups', valueRef(['Group'], { mutability: 'readOnly' }), { mutability: 'readOnly' }),
      multi('roles', typedValues),
      multi('entitlements', typedValues),
    ],
  },
  {
    id: ENTERPRISE_USER,
    name: 'EnterpriseUser',
    description: 'Enterprise User',
    attributes: [
      str('employeeNumber'),
      str('costCenter'),
      str('organization'),
      str('division'),
      str('department'),
      attr('manager', 'complex', { subAttributes: valueRef(['User']) }),
    ],
  },
  {
    id: GROUP,
    name: 'Group',
    description: 'Group',
    attributes: [str('displayName', { required: true }), multi('members', [...valueRef(['User']), str('type', { mutability: 'immutable' })])],
  },
  {
    id: AGENT,
    name: 'Agent',
    description: 'An AI agent acting for people (draft-abbey-scim-agent-extension-00).',
    attributes: [
      str('name', { required: true }),
      str('displayName'),
      attr('active', 'boolean'),
      str('description'),
      str('agentType'),
      multi('entitlements', typedValues),
      multi('roles', typedValues),
      multi('groups', valueRef(['Group'], { mutability: 'readOnly' }), { mutability: 'readOnly' }),
      multi('applications', valueRef(['AgenticApplication'])),
      str('subject'),
      multi('protocols', [str('type'), attr('specificationUrl', 'reference', { referenceTypes: ['external'] })]),
      attr('parent', 'complex', { subAttributes: valueRef(['Agent']) }),
      multi('owners', valueRef(['User']), { description: 'The people accountable for the agent; one must be active or the agent is orphaned.' }),
    ],
  },
  {
    id: AGENTIC_APPLICATION,
    name: 'AgenticApplication',
    description: 'An application that hosts agents (draft-abbey-scim-agent-extension-00).',
    attributes: [str('name', { required: true }), str('displayName'), str('description'), attr('active', 'boolean'), multi('protocols', [str('type'), attr('specificationUrl', 'reference', { referenceTypes: ['external'] })])],
  },
  {
    id: AGENT_GOVERNANCE,
    name: 'AgentGovernance',
    description: 'What the orchestrator knows about an agent.',
    attributes: [attr('orphaned', 'boolean', { mutability: 'readOnly', description: 'Its owner left; the agent is denied until an active owner is set.' })],
  },
];

export interface ResourceTypeInfo {
  name: string;
  endpoint: string;
  schema: string;
  extensions: string[];
}

export const RESOURCE_TYPES: ResourceTypeInfo[] = [
  { name: 'User', endpoint: '/Users', schema: USER, extensions: [ENTERPRISE_USER] },
  { name: 'Group', endpoint: '/Groups', schema: GROUP, extensions: [] },
  { name: 'Agent', endpoint: '/Agents', schema: AGENT, extensions: [AGENT_GOVERNANCE] },
  { name: 'AgenticApplication', endpoint: '/AgenticApplications', schema: AGENTIC_APPLICATION, extensions: [] },
];

const meta = (resourceType: string, location: string) => ({ resourceType, location });

export function serviceProviderConfig(base: string) {
  return {
    schemas: [SPC],
    documentationUri: 'https://datatracker.ietf.org/doc/html/rfc7644',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      { type: 'oauthbearertoken', name: 'Bearer token', description: 'Authorization: Bearer <token> with the scim role.', primary: true },
    ],
    agentExtension: { supported: true, agentsSupported: true, agenticApplicationsSupported: true },
    meta: meta('ServiceProviderConfig', `${base}/ServiceProviderConfig`),
  };
}

export function resourceType(t: ResourceTypeInfo, base: string) {
  return {
    schemas: [RESOURCE_TYPE],
    id: t.name,
    name: t.name,
    endpoint: t.endpoint,
    schema: t.schema,
    schemaExtensions: t.extensions.map((schema) => ({ schema, required: false })),
    meta: meta('ResourceType', `${base}/ResourceTypes/${t.name}`),
  };
}

export function schemaResources(base: string) {
  return SCHEMAS.map((s) => ({ schemas: [SCHEMA], ...s, meta: meta('Schema', `${base}/Schemas/${s.id}`) }));
}
