// The list of groups, each with its last message, the most recently active first.

import { inBatches } from "./api.js";

/** What a group is called on the page. */
export function groupTitle(group) {
  return group.name || group.id;
}

function snippet(message) {
  if (!message) return "no messages yet";
  const who = message.role === "assistant" ? "claw" : message.sender;
  return `${who}: ${message.text.replace(/\s+/g, " ").slice(0, 200)}`;
}

/** The groups with `last` (their newest message, or null), newest activity first. */
export async function loadGroups(api) {
  const groups = await api.groups();
  const lasts = await inBatches(groups, 4, (group) =>
    api.recentMessages(group.id, 1).then((messages) => messages[0] || null, () => null),
  );
  const withLast = groups.map((group, index) => ({ ...group, last: lasts[index] }));
  const activity = (group) => Date.parse(group.last ? group.last.created_at : group.created_at);
  return withLast.sort((a, b) => activity(b) - activity(a));
}

/** Draws the list; `onOpen(groupId)` when one is picked. Built with textContent only. */
export function drawGroups(list, groups, openId, onOpen) {
  list.replaceChildren(
    ...groups.map((group) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "group";
      button.dataset.groupId = group.id;
      if (group.id === openId) button.setAttribute("aria-current", "true");
      const title = document.createElement("span");
      title.className = "group-title";
      title.textContent = groupTitle(group);
      const last = document.createElement("span");
      last.className = "group-last";
      last.textContent = snippet(group.last);
      button.append(title, last);
      button.addEventListener("click", () => onOpen(group.id));
      item.append(button);
      return item;
    }),
  );
}
