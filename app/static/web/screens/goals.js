// Savings goals: open one, put money in, take it out, close it.

import { all, del, post } from "../api.js";
import { badge, h, replace, summary } from "../dom.js";
import { money } from "../money.js";
import { confirmAction, form, loading, moneyForm, notice, section } from "../ui.js";
import { accountOptions, ownAccounts } from "./customer.js";

function progressOf(goal) {
  const p = goal.progress;
  const rows = [
    ["Saved", h("strong", { class: "goal-balance", text: money(goal.balance, goal.currency) })],
  ];
  if (goal.target_amount) {
    rows.push(["Target", money(goal.target_amount, goal.currency)]);
    rows.push(["Still to save", money(p.remaining, goal.currency)]);
  }
  if (goal.target_date) rows.push(["By", goal.target_date]);
  if (p.needed_per_month) rows.push(["Needed per month", money(p.needed_per_month, goal.currency)]);
  if (p.on_track !== null && p.on_track !== undefined)
    rows.push(["On track", p.on_track ? "Yes" : "No"]);
  rows.push(["Round-ups", goal.round_up ? "On: spare change from your primary account" : "Off"]);
  return h(
    "div",
    {},
    goal.target_amount
      ? h(
          "div",
          { class: "progress" },
          h("label", { for: `progress-${goal.id}`, text: `${p.percent}% of the target` }),
          h("progress", { id: `progress-${goal.id}`, max: "100", value: String(p.percent) }),
        )
      : null,
    summary(rows),
  );
}

async function goals(body) {
  const host = h("div");
  const opener = form({
    label: "Open a goal",
    title: "Open a goal",
    submitLabel: "Open the goal",
    fields: [
      { name: "name", label: "Name", required: true, maxlength: 60 },
      {
        name: "target_amount",
        label: "Target amount",
        type: "amount",
        hint: "Optional, for example 1500.00",
      },
      { name: "target_date", label: "Target date", type: "date", hint: "Optional, a future date" },
      { name: "round_up", label: "Round up my spending into this goal", type: "checkbox" },
    ],
    onSubmit: async (v) => {
      const payload = { name: v.name, round_up: v.round_up };
      if (v.target_amount) payload.target_amount = v.target_amount;
      if (v.target_date) payload.target_date = v.target_date;
      const goal = await post("/goals", payload);
      opener.reset();
      await show(`Goal “${goal.name}” opened.`);
    },
  });
  const accounts = await ownAccounts();

  async function show(message = null) {
    await loading(host, async () => {
      const items = (await all("/goals")).filter((g) => g.status !== "closed");
      if (!items.length) return h("p", { class: "empty", text: "No goals yet. Open one below." });
      return h(
        "div",
        { class: "cards" },
        items.map((goal) => goalCard(goal, accounts, show)),
      );
    });
    if (message) {
      const shown = notice(message);
      shown.setAttribute("tabindex", "-1");
      host.prepend(shown);
      shown.focus();
    }
  }

  replace(body, host, opener.element);
  await show();
}

function goalCard(goal, accounts, refresh) {
  const moves = h("div", { class: "goal-moves" });
  const open = (direction) => {
    const putting = direction === "in";
    const flow = moneyForm({
      label: putting ? `Add money to ${goal.name}` : `Take money from ${goal.name}`,
      fields: [
        {
          name: "account",
          label: putting ? "From account" : "Into account",
          type: "select",
          options: accountOptions(accounts),
        },
        { name: "amount", label: "Amount", type: "amount", required: true },
      ],
      confirmLabel: putting ? "Confirm adding" : "Confirm taking out",
      doneTitle: putting ? "Added to the goal" : "Taken from the goal",
      review: (v) => [
        [putting ? "From" : "Into", v.account],
        [putting ? "To goal" : "From goal", goal.name],
        ["Amount", h("strong", { text: money(v.amount, goal.currency) })],
      ],
      submit: (v, key) =>
        putting
          ? post(
              `/goals/${goal.id}/deposits`,
              { amount: v.amount, from_account_number: v.account },
              key,
            )
          : post(
              `/goals/${goal.id}/withdrawals`,
              { amount: v.amount, to_account_number: v.account },
              key,
            ),
      done: (result) =>
        notice(`The goal now holds ${money(result.goal.balance, result.goal.currency)}.`),
      after: (result) =>
        refresh(`${goal.name} now holds ${money(result.goal.balance, result.goal.currency)}.`),
    });
    replace(moves, flow.element);
    moves.querySelector("select")?.focus();
  };
  const add = h("button", {
    type: "button",
    class: "secondary",
    text: "Add money",
    "aria-label": `Add money to ${goal.name}`,
  });
  const take = h("button", {
    type: "button",
    class: "secondary",
    text: "Take money out",
    "aria-label": `Take money out of ${goal.name}`,
  });
  add.addEventListener("click", () => open("in"));
  take.addEventListener("click", () => open("out"));
  const close = confirmAction(
    "Close the goal",
    `Close “${goal.name}” and move its ${money(goal.balance, goal.currency)} back to your primary account?`,
    "Yes, close it",
    async () => {
      const closed = await del(`/goals/${goal.id}`);
      await refresh(
        closed.refund
          ? `“${goal.name}” is closed: ${money(closed.refund.amount, closed.refund.currency || goal.currency)} went back to ${closed.refund.to_account_number}.`
          : `“${goal.name}” is closed; it held nothing.`,
      );
    },
    { name: `Close the goal ${goal.name}` },
  );
  return section(
    goal.name,
    h(
      "p",
      {},
      badge(goal.status),
      " ",
      h("span", { class: "muted", text: `account ${goal.account_number}` }),
    ),
    progressOf(goal),
    h("div", { class: "buttons" }, add, take, close),
    moves,
  );
}

export const routes = [
  { path: "/app/goals", title: "Savings goals", roles: ["customer"], render: goals },
];
