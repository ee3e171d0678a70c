// Directory people ⇄ Slack users: the stored slackUserId first, else the work email
// (users.lookupByEmail one way, users.info the other), cached for the life of the process.
import type { SqlClient } from '../db/sql';
import type { DirectoryPerson } from '../directory/person';
import type { SlackWebApi } from './slack-web-client';

export interface PersonLookup {
  person(id: string): Promise<DirectoryPerson | undefined>;
}

export class SlackIdentities {
  private readonly slackIdByEmail = new Map<string, string>();
  private readonly emailBySlackId = new Map<string, string>();

  constructor(
    private readonly db: SqlClient,
    private readonly directory: PersonLookup,
    private readonly slack?: SlackWebApi,
  ) {}

  /** The Slack user to DM, or undefined when the person has none Slack knows of. */
  async slackUserOf(person: DirectoryPerson): Promise<string | undefined> {
    if (person.slackUserId) return person.slackUserId;
    const email = person.email?.toLowerCase();
    if (!email || !this.slack) return undefined;
    const known = this.slackIdByEmail.get(email);
    if (known) return known;
    try {
      const found = await this.slack.users.lookupByEmail({ email });
      if (!found.user?.id) return undefined;
      this.remember(email, found.user.id);
      return found.user.id;
    } catch (err) {
      if ((err as { data?: { error?: string } }).data?.error === 'users_not_found') return undefined;
      throw err;
    }
  }

  /** The directory person behind a Slack user (by stored id, else by the Slack profile's email). */
  async personOf(slackUserId: string): Promise<DirectoryPerson | undefined> {
    const [byId] = await this.db.query<{ id: string }>('select id from users where slack_user_id = $1 order by active desc, id limit 1', [slackUserId]);
    if (byId) return this.directory.person(byId.id);
    const email = await this.emailOf(slackUserId);
    if (!email) return undefined;
    const [byEmail] = await this.db.query<{ id: string }>('select id from users where lower(email) = $1 order by active desc, id limit 1', [email]);
    return byEmail && this.directory.person(byEmail.id);
  }

  private async emailOf(slackUserId: string): Promise<string | undefined> {
    const known = this.emailBySlackId.get(slackUserId);
    if (known || !this.slack) return known;
    const info = await this.slack.users.info({ user: slackUserId });
    const email = info.user?.profile?.email?.toLowerCase();
    if (email) this.remember(email, slackUserId);
    return email;
  }

  private remember(email: string, slackUserId: string): void {
    this.slackIdByEmail.set(email, slackUserId);
    this.emailBySlackId.set(slackUserId, email);
  }
}
