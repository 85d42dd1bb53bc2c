// Scheduled transfers: place a standing order, pause, resume, cancel, see its runs.

import { all, get, post } from "../api.js";
import { badge, h, replace, words, when } from "../dom.js";
import { money, wholeNumber } from "../money.js";
import { addRecipient, recipientFields } from "../payment.js";
import {
  actionButton,
  confirmAction,
  form,
  loading,
  notice,
  pagedTable,
  section,
  table,
} from "../ui.js";
import { accountOptions, ownAccounts } from "./customer.js";

function every(order) {
  const r = order.recurrence;
  if (!r) return `Once, on ${order.start_date}`;
  const unit = { daily: "day", weekly: "week", monthly: "month" }[r.frequency];
  const period = r.interval === 1 ? `Every ${unit}` : `Every ${r.interval} ${unit}s`;
  const end = r.count ? `, ${r.count} times` : r.end_date ? `, until ${r.end_date}` : "";
  return `${period} from ${order.start_date}${end}`;
}

async function scheduled(body) {
  const [accounts, payees] = await Promise.all([ownAccounts(), all("/payees")]);
  const host = h("div");
  const runsHost = h("div");
  const placer = form({
    label: "Schedule a transfer",
    title: "Schedule a transfer",
    submitLabel: "Schedule it",
    fields: [
      {
        name: "from_account_number",
        label: "From account",
        type: "select",
        options: accountOptions(accounts),
      },
      ...recipientFields(payees),
      { name: "amount", label: "Amount", type: "amount", required: true },
      { name: "description", label: "Description", maxlength: 140 },
      { name: "start_date", label: "First payment on", type: "date", required: true },
      {
        name: "recurrence.frequency",
        label: "Repeat",
        type: "select",
        options: [
          ["", "Do not repeat"],
          ["daily", "Daily"],
          ["weekly", "Weekly"],
          ["monthly", "Monthly"],
        ],
      },
      {
        name: "recurrence.interval",
        label: "Every how many days, weeks or months",
        type: "integer",
        value: "1",
      },
      {
        name: "recurrence.count",
        label: "How many payments",
        type: "integer",
        hint: "Optional; or give an end date, not both",
      },
      { name: "recurrence.end_date", label: "Last payment by", type: "date" },
    ],
    onSubmit: async (v) => {
      const payload = {
        amount: v.amount,
        start_date: v.start_date,
        from_account_number: v.from_account_number,
      };
      if (v.description) payload.description = v.description;
      addRecipient(payload, v);
      if (v["recurrence.frequency"]) {
        payload.recurrence = {
          frequency: v["recurrence.frequency"],
          interval: wholeNumber(v["recurrence.interval"] || "1"),
        };
        if (v["recurrence.count"]) payload.recurrence.count = wholeNumber(v["recurrence.count"]);
        if (v["recurrence.end_date"]) payload.recurrence.end_date = v["recurrence.end_date"];
      }
      const order = await post("/scheduled-transfers", payload);
      placer.reset();
      await show(
        `Scheduled: ${money(order.amount, order.currency)} to ${order.to_account_number}, ${every(order).toLowerCase()}. Next payment ${order.next_run_date || "none"}.`,
      );
    },
  });

  async function show(message) {
    await loading(host, async () => {
      const orders = await all("/scheduled-transfers");
      return table({
        caption: "Your scheduled transfers",
        empty: "No scheduled transfers.",
        columns: [
          { label: "To", value: (o) => o.to_account_number },
          { label: "Amount", class: "num", value: (o) => money(o.amount, o.currency) },
          { label: "When", value: (o) => every(o) },
          { label: "Next", value: (o) => o.next_run_date || "" },
          { label: "Made", class: "num", value: (o) => String(o.runs_made) },
          { label: "Status", value: (o) => badge(o.status) },
          { label: "Actions", value: (o) => actions(o) },
        ],
        items: orders,
      });
    });
    if (message) host.prepend(notice(message));
  }

  function actions(order) {
    const name = `${money(order.amount, order.currency)} to ${order.to_account_number}`;
    const act = (verb) => async () => {
      const changed = await post(`/scheduled-transfers/${order.id}/${verb}`);
      const done = { pause: "Paused", resume: "Resumed", cancel: "Cancelled" }[verb];
      await show(`${done}: ${name} is now ${words(changed.status).toLowerCase()}.`);
    };
    const runs = h("button", {
      type: "button",
      class: "secondary",
      text: "Runs",
      "aria-label": `Runs of ${name}`,
    });
    runs.addEventListener("click", async () => {
      const list = pagedTable({
        caption: `Runs of ${name}`,
        empty: "No payments made yet.",
        columns: [
          { label: "Due", value: (r) => r.due_date },
          { label: "Outcome", value: (r) => badge(r.status) },
          { label: "Why", value: (r) => r.reason || "" },
          { label: "Tried", value: (r) => when(r.attempted_at) },
        ],
        load: (cursor) => get(`/scheduled-transfers/${order.id}/runs`, { cursor }),
      });
      replace(runsHost, section(`Runs of ${name}`, list.element));
      await list.reload();
      runsHost.querySelector("h2")?.setAttribute("tabindex", "-1");
      runsHost.querySelector("h2")?.focus();
    });
    return [
      order.status === "active"
        ? actionButton("Pause", act("pause"), { name: `Pause ${name}` })
        : null,
      order.status === "paused" || order.status === "suspended"
        ? actionButton("Resume", act("resume"), { name: `Resume ${name}` })
        : null,
      ["active", "paused", "suspended"].includes(order.status)
        ? confirmAction("Cancel", `Cancel ${name} for good?`, "Yes, cancel it", act("cancel"), {
            name: `Cancel ${name}`,
          })
        : null,
      runs,
    ];
  }

  replace(body, host, runsHost, placer.element);
  await show();
}

export const routes = [
  { path: "/app/scheduled", title: "Scheduled transfers", roles: ["customer"], render: scheduled },
];
