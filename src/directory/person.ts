// A person as approver routing and Slack cards see them.
export interface DirectoryPerson {
  id: string;
  userName: string;
  displayName?: string;
  title?: string;
  department?: string;
  manager?: string;
  email?: string;
  slackUserId?: string;
  active: boolean;
  groups: string[];
}
