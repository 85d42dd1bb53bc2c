// The signed-in person: profile, password, daily limit, sign-ins, notifications.

import { currentUser, get, patch, post, updateUser } from "../api.js";
import { h, instant, replace, summary, words, when } from "../dom.js";
import { money, typedAmount } from "../money.js";
import { actionButton, form, loading, notice, pagedTable, section } from "../ui.js";

function profileSection() {
  const user = currentUser();
  const done = h("div", { "aria-live": "polite" });
  const editor = form({
    label: "Your details",
    submitLabel: "Save my details",
    fields: [
      { name: "full_name", label: "Full name", autocomplete: "name", value: user.full_name || "" },
      {
        name: "email",
        label: "Email",
        type: "email",
        autocomplete: "email",
        value: user.email || "",
      },
      {
        name: "phone",
        label: "Mobile phone",
        type: "tel",
        autocomplete: "tel",
        value: user.phone || "",
        hint: "International format, for example +447700900123",
      },
    ],
    onSubmit: async (v) => {
      const changes = {};
      for (const name of ["full_name", "email", "phone"]) {
        if (v[name] !== (user[name] || "")) changes[name] = v[name] || null;
      }
      const saved = await patch("/auth/me", changes);
      updateUser({ ...currentUser(), ...saved });
      replace(done, notice("Your details are saved."));
    },
  });
  return section(
    "Your details",
    summary([
      ["Username", user.username],
      ["Customer since", instant(user.created_at)],
    ]),
    editor.element,
    done,
  );
}

function passwordSection() {
  const done = h("div", { "aria-live": "polite" });
  const changer = form({
    label: "Change your password",
    submitLabel: "Change the password",
    fields: [
      {
        name: "current_password",
        label: "Current password",
        type: "password",
        required: true,
        autocomplete: "current-password",
      },
      {
        name: "new_password",
        label: "New password",
        type: "password",
        required: true,
        autocomplete: "new-password",
        hint: "8 to 128 characters, not a common password",
      },
    ],
    onSubmit: async (v) => {
      await post("/auth/change-password", v);
      changer.reset();
      replace(
        done,
        notice("Your password is changed. Every other session of yours is signed out."),
      );
    },
  });
  return section("Password", changer.element, done);
}

async function limitSection() {
  const limits = await get("/limits");
  const figures = h("div");
  const showFigures = (l) =>
    replace(
      figures,
      summary([
        [
          "Daily limit",
          h("strong", { class: "daily-limit", text: money(l.daily_limit, l.currency) }),
        ],
        ["Sent today", money(l.used_today, l.currency)],
        [
          "Left today",
          h("span", { class: "remaining-today", text: money(l.remaining_today, l.currency) }),
        ],
        ["Starts again", instant(l.resets_at)],
      ]),
    );
  showFigures(limits);
  const done = h("div", { "aria-live": "polite" });
  const setter = form({
    label: "Set your daily limit",
    submitLabel: "Set the limit",
    fields: [
      {
        name: "daily_limit",
        label: "New daily limit",
        type: "amount",
        required: true,
        value: limits.daily_limit,
        hint: "What may leave your accounts in one day; at most the bank's limit",
      },
    ],
    onSubmit: async (v) => {
      const saved = await patch("/limits", { daily_limit: typedAmount(v.daily_limit) });
      showFigures(saved);
      replace(done, notice(`Your daily limit is now ${money(saved.daily_limit, saved.currency)}.`));
    },
  });
  return section("Daily limit", figures, setter.element, done);
}

function signInsSection() {
  const list = pagedTable({
    caption: "Sign-ins, newest first",
    columns: [
      { label: "When", value: (a) => when(a.at) },
      { label: "Outcome", value: (a) => words(a.outcome) },
      { label: "Address", value: (a) => a.ip || "" },
      { label: "Browser", value: (a) => a.user_agent || "" },
    ],
    load: (cursor) => get("/auth/logins", { cursor, limit: 10 }),
  });
  list.reload();
  return section("Recent sign-ins", list.element);
}

async function settings(body) {
  const isCustomer = currentUser().role === "customer";
  await loading(body, async () =>
    h(
      "div",
      { class: "settings" },
      profileSection(),
      passwordSection(),
      isCustomer ? await limitSection() : null,
      isCustomer ? await preferencesSection() : null,
      signInsSection(),
    ),
  );
}

async function preferencesSection() {
  const prefs = await get("/notifications/preferences");
  const done = h("div", { "aria-live": "polite" });
  const chooser = form({
    label: "How we tell you",
    submitLabel: "Save my choices",
    intro: "Security messages (a new sign-in, a password change) are always sent.",
    fields: [
      { name: "email", label: "Email me", type: "checkbox", value: prefs.email },
      { name: "sms", label: "Text me", type: "checkbox", value: prefs.sms },
    ],
    onSubmit: async (v) => {
      await patch("/notifications/preferences", { email: v.email, sms: v.sms });
      replace(done, notice("Your choices are saved."));
    },
  });
  return section("Notifications", chooser.element, done);
}

async function notifications(body) {
  const list = pagedTable({
    caption: "Your notifications",
    empty: "No notifications.",
    columns: [
      { label: "When", value: (n) => when(n.created_at) },
      { label: "What", value: (n) => [h("strong", { text: n.title }), h("br"), n.body] },
      {
        label: "Read",
        value: (n) =>
          n.read_at
            ? `Read ${instant(n.read_at)}`
            : actionButton(
                "Mark as read",
                async () => {
                  const read = await post(`/notifications/${n.id}/read`);
                  return `Read ${instant(read.read_at)}`;
                },
                { name: `Mark “${n.title}” as read` },
              ),
      },
    ],
    load: (cursor) => get("/notifications", { cursor }),
  });
  replace(body, list.element);
  await list.reload();
}

export const routes = [
  {
    path: "/app/settings",
    title: "Profile and security",
    roles: ["customer", "banker", "auditor"],
    render: settings,
  },
  {
    path: "/app/notifications",
    title: "Notifications",
    roles: ["customer"],
    render: notifications,
  },
];
