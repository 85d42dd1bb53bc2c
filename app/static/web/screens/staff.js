// Staff screens: bankers act, auditors read the same screens without the buttons.

import { currentUser, download, get, patch, post } from "../api.js";
import { badge, h, replace, summary, words, when } from "../dom.js";
import { money } from "../money.js";
import {
  actionButton,
  confirmAction,
  form,
  loading,
  newKey,
  notice,
  pagedTable,
  problemBox,
  section,
  table,
} from "../ui.js";
import { movementColumns, TYPES } from "./customer.js";

const STAFF = ["banker", "auditor"];
let currency = null;

/** The bank's currency (loan objects carry none), read once. */
async function bankCurrency() {
  if (currency === null) currency = (await get("/banker/ledger/summary")).currency;
  return currency;
}

function isBanker() {
  return currentUser()?.role === "banker";
}

/** The filters an /app/ URL's query carries (?account_number=…), for links between screens. */
function linked(names) {
  const query = new URLSearchParams(location.search);
  return Object.fromEntries(names.map((name) => [name, query.get(name) || ""]));
}

/** A filter form over a paged list; the list reloads with the form's values. */
function filtered(body, { label, fields, caption, columns, path, empty, extra = {} }) {
  const list = pagedTable({
    caption,
    columns,
    empty,
    load: (cursor) => get(path, { ...filters.values(), ...extra, cursor }),
  });
  const filters = form({
    label,
    class: "filters",
    submitLabel: "Show",
    fields,
    onSubmit: () => list.reload(),
  });
  replace(body, filters.element, list.element);
  return list.reload();
}

/** A button that asks for a reason (a rejection) in a small labelled form. */
function reasonAction(label, name, run) {
  const host = h("span", { class: "action" });
  const start = h("button", {
    type: "button",
    class: "secondary",
    text: label,
    "aria-label": name,
  });
  start.addEventListener("click", () => {
    const ask = form({
      label: name,
      class: "inline-form",
      submitLabel: label,
      fields: [{ name: "reason", label: "Reason", required: true, maxlength: 200 }],
      extraButtons: h("button", {
        type: "button",
        class: "secondary",
        text: "Never mind",
        onclick: () => replace(host, start),
      }),
      onSubmit: async (v) => {
        const text = await run(v.reason);
        replace(host, h("span", { class: "ok", role: "status", text }));
      },
    });
    replace(host, ask.element);
    ask.inputs.reason.focus();
  });
  host.append(start);
  return host;
}

async function accounts(body) {
  const columns = [
    { label: "Account", value: (a) => a.account_number },
    {
      label: "Customer",
      value: (a) =>
        h("a", {
          href: `/app/staff/transactions?username=${encodeURIComponent(a.owner.username)}`,
          text: a.owner.username,
          "aria-label": `Transactions of ${a.owner.username}`,
        }),
    },
    { label: "Balance", class: "num", value: (a) => money(a.balance, a.currency) },
    { label: "Available", class: "num", value: (a) => money(a.available_balance, a.currency) },
    { label: "Status", value: (a) => badge(a.status) },
    { label: "Opened", value: (a) => when(a.created_at) },
    {
      label: "History",
      value: (a) =>
        h("a", {
          href: `/app/staff/transactions?account_number=${a.account_number}`,
          text: "Transactions",
          "aria-label": `Transactions of ${a.account_number}`,
        }),
    },
  ];
  if (isBanker()) columns.push({ label: "Actions", value: (a) => accountActions(a) });
  await filtered(body, {
    label: "Find accounts",
    caption: "Accounts",
    empty: "No accounts match.",
    path: "/banker/accounts",
    fields: [
      { name: "q", label: "Username starts with", type: "search", value: linked(["q"]).q },
      {
        name: "status",
        label: "Status",
        type: "select",
        options: [
          ["", "Any status"],
          ["active", "Active"],
          ["frozen", "Frozen"],
          ["closed", "Closed"],
        ],
      },
    ],
    columns,
  });
}

function accountActions(account) {
  const host = h("span", { class: "actions" });
  const draw = (a, message = null) => {
    const name = a.account_number;
    const set = (status) => async () => {
      const changed = await patch(`/banker/accounts/${name}`, { status });
      draw(changed, `${name} is now ${words(changed.status).toLowerCase()}.`);
    };
    replace(
      host,
      message ? h("span", { class: "ok", role: "status", text: message }) : null,
      a.status === "active"
        ? actionButton("Freeze", set("frozen"), { name: `Freeze ${name}` })
        : null,
      a.status === "frozen"
        ? actionButton("Unfreeze", set("active"), { name: `Unfreeze ${name}` })
        : null,
      a.status !== "closed"
        ? confirmAction(
            "Close",
            `Close ${name} for good? It must be empty.`,
            "Yes, close it",
            set("closed"),
            { name: `Close ${name}` },
          )
        : null,
    );
    host.querySelector("button")?.focus();
  };
  draw(account);
  return host;
}

async function customers(body) {
  const columns = [
    {
      label: "Username",
      value: (u) =>
        h("a", {
          href: `/app/staff/accounts?q=${encodeURIComponent(u.username)}`,
          text: u.username,
          "aria-label": `Accounts of ${u.username}`,
        }),
    },
    { label: "Name", value: (u) => u.full_name || "" },
    { label: "Email", value: (u) => u.email || "" },
    { label: "Role", value: (u) => words(u.role) },
    { label: "Accounts", class: "num", value: (u) => String(u.accounts ?? "") },
    { label: "Last sign-in", value: (u) => when(u.last_login_at) },
    { label: "Status", value: (u) => badge(u.active ? "active" : "disabled") },
  ];
  if (isBanker()) {
    columns.push({
      label: "Actions",
      value: (u) =>
        u.role === "customer"
          ? actionButton(
              u.active ? "Disable" : "Enable",
              async () => {
                const changed = await patch(`/banker/users/${u.id}`, { active: !u.active });
                u.active = changed.active;
                return `${changed.username} is now ${changed.active ? "enabled" : "disabled"}.`;
              },
              { name: `${u.active ? "Disable" : "Enable"} ${u.username}` },
            )
          : "",
    });
  }
  await filtered(body, {
    label: "Find people",
    caption: "People",
    empty: "Nobody matches.",
    path: "/banker/users",
    fields: [
      { name: "q", label: "Username starts with", type: "search" },
      {
        name: "role",
        label: "Role",
        type: "select",
        options: [
          ["customer", "Customers"],
          ["", "Everyone"],
          ["banker", "Bankers"],
          ["auditor", "Auditors"],
        ],
      },
      {
        name: "active",
        label: "Status",
        type: "select",
        options: [
          ["", "Any"],
          ["true", "Enabled"],
          ["false", "Disabled"],
        ],
      },
    ],
    columns,
  });
}

async function transactions(body) {
  const start = linked(["account_number", "username"]);
  await filtered(body, {
    label: "Filter transactions",
    caption: "Transactions",
    empty: "No transactions match.",
    path: "/banker/transactions",
    fields: [
      { name: "username", label: "Customer username", value: start.username },
      {
        name: "account_number",
        label: "Account number",
        inputmode: "numeric",
        value: start.account_number,
      },
      {
        name: "type",
        label: "Type",
        type: "select",
        options: [["", "Any type"], ...TYPES.map((t) => [t, words(t)])],
      },
      { name: "from", label: "From", type: "date" },
      { name: "to", label: "To", type: "date" },
    ],
    columns: [
      ...movementColumns({ owner: true }),
      { label: "Flags", value: (t) => (t.flags || []).map(words).join(", ") },
    ],
  });
}

async function approvals(body) {
  const columns = [
    { label: "Asked", value: (a) => when(a.created_at) },
    { label: "Customer", value: (a) => a.owner.username },
    { label: "Kind", value: (a) => words(a.kind) },
    { label: "From", value: (a) => a.from_account_number },
    { label: "To", value: (a) => a.to_account_number || "" },
    {
      label: "Amount",
      class: "num",
      value: (a) => h("strong", { text: money(a.amount, a.currency) }),
    },
    {
      label: "Status",
      value: (a) => [
        badge(a.status),
        a.decided_by ? h("span", { class: "muted", text: ` by ${a.decided_by}` }) : null,
      ],
    },
  ];
  if (isBanker()) {
    columns.push({
      label: "Decision",
      value: (a) => {
        if (a.status !== "pending_approval") return a.reason || "";
        const name = `${words(a.kind).toLowerCase()} of ${money(a.amount, a.currency)} by ${a.owner.username}`;
        return [
          actionButton(
            "Approve",
            async () => {
              const done = await post(`/banker/approvals/${a.id}/approve`);
              return `Approved: ${words(done.status).toLowerCase()}.`;
            },
            { kind: "primary", name: `Approve the ${name}` },
          ),
          reasonAction("Reject", `Reject the ${name}`, async (reason) => {
            const done = await post(`/banker/approvals/${a.id}/reject`, { reason });
            return `Rejected: ${words(done.status).toLowerCase()}.`;
          }),
        ];
      },
    });
  }
  await filtered(body, {
    label: "Filter approvals",
    caption: "Approvals",
    empty: "Nothing waits for approval.",
    path: "/banker/approvals",
    fields: [
      {
        name: "status",
        label: "Status",
        type: "select",
        options: [
          ["pending_approval", "Waiting"],
          ["", "Any"],
          ["posted", "Posted"],
          ["rejected", "Rejected"],
          ["cancelled", "Cancelled"],
          ["expired", "Expired"],
          ["failed", "Failed"],
        ],
      },
    ],
    columns,
  });
}

async function reviews(body) {
  const columns = [
    { label: "Opened", value: (r) => when(r.opened_at) },
    { label: "Rules", value: (r) => r.rules.map(words).join(", ") },
    { label: "Customer", value: (r) => r.transaction.owner?.username || "" },
    {
      label: "Movement",
      value: (r) => `${words(r.transaction.type)} ${r.transaction.account_number}`,
    },
    {
      label: "Amount",
      class: "num",
      value: (r) => money(r.transaction.amount, r.transaction.currency),
    },
    {
      label: "Status",
      value: (r) => [
        badge(r.status),
        r.outcome ? h("span", { class: "muted", text: ` ${words(r.outcome)}` }) : null,
      ],
    },
  ];
  if (isBanker()) {
    columns.push({
      label: "Decision",
      value: (r) => (r.status === "open" ? closeReview(r) : r.note || ""),
    });
  }
  await filtered(body, {
    label: "Filter reviews",
    caption: "Flagged movements",
    empty: "No flagged movements.",
    path: "/banker/reviews",
    fields: [
      {
        name: "status",
        label: "Status",
        type: "select",
        options: [
          ["open", "Open"],
          ["closed", "Closed"],
          ["", "Any"],
        ],
      },
    ],
    columns,
  });
}

function closeReview(review) {
  const host = h("span", { class: "action" });
  const closer = form({
    label: `Close the review of ${money(review.transaction.amount, review.transaction.currency)}`,
    class: "inline-form",
    submitLabel: "Close the review",
    fields: [
      {
        name: "outcome",
        label: "Outcome",
        type: "select",
        options: [
          ["legitimate", "Legitimate"],
          ["fraud", "Fraud (freezes the account)"],
        ],
      },
      { name: "note", label: "Note", maxlength: 500 },
    ],
    onSubmit: async (v) => {
      const payload = { outcome: v.outcome };
      if (v.note) payload.note = v.note;
      const closed = await post(`/banker/reviews/${review.id}/close`, payload);
      replace(
        host,
        h("span", {
          class: "ok",
          role: "status",
          text: `Closed as ${words(closed.outcome).toLowerCase()}.`,
        }),
      );
    },
  });
  host.append(closer.element);
  return host;
}

async function loans(body) {
  const cur = await bankCurrency();
  const columns = [
    { label: "Applied", value: (l) => when(l.created_at) },
    { label: "Customer", value: (l) => l.owner.username },
    { label: "Amount", class: "num", value: (l) => money(l.principal, cur) },
    { label: "Term", value: (l) => `${l.term_months} months at ${l.annual_rate} %` },
    { label: "Purpose", value: (l) => l.purpose || "" },
    {
      label: "Status",
      value: (l) => [
        badge(l.status),
        l.days_past_due
          ? h("span", { class: "muted", text: ` ${l.days_past_due} days past due` })
          : null,
      ],
    },
    {
      label: "Outstanding",
      class: "num",
      value: (l) => (l.outstanding ? money(l.outstanding, cur) : ""),
    },
  ];
  if (isBanker()) columns.push({ label: "Decision", value: (l) => loanActions(l, cur) });
  await filtered(body, {
    label: "Filter loans",
    caption: "Loans",
    empty: "No loans match.",
    path: "/banker/loans",
    fields: [
      {
        name: "status",
        label: "Status",
        type: "select",
        options: [
          ["submitted", "Submitted"],
          ["approved", "Approved"],
          ["active", "Active"],
          ["", "Any"],
          ["rejected", "Rejected"],
          ["withdrawn", "Withdrawn"],
          ["closed", "Closed"],
        ],
      },
      {
        name: "overdue",
        label: "Overdue only",
        type: "select",
        options: [
          ["", "No"],
          ["true", "Yes"],
        ],
      },
    ],
    columns,
  });
}

function loanActions(loan, cur) {
  const name = `the loan of ${money(loan.principal, cur)} to ${loan.owner.username}`;
  if (loan.status === "submitted") {
    return [
      actionButton(
        "Approve",
        async () => {
          const done = await post(`/banker/loans/${loan.id}/approve`);
          return `Approved: now ${words(done.status).toLowerCase()}; disburse it to pay it out.`;
        },
        { kind: "primary", name: `Approve ${name}` },
      ),
      reasonAction("Reject", `Reject ${name}`, async (reason) => {
        const done = await post(`/banker/loans/${loan.id}/reject`, { reason });
        return `Rejected (${words(done.status).toLowerCase()}).`;
      }),
    ];
  }
  if (loan.status === "approved") {
    // One key per loan shown: a second click, or a retry, pays out once.
    const key = newKey();
    return confirmAction(
      "Disburse",
      `Pay ${money(loan.principal, cur)} into ${loan.disbursement_account_number}?`,
      "Yes, disburse",
      async () => {
        const done = await post(`/banker/loans/${loan.id}/disburse`, {}, key);
        return `Disbursed: the loan is ${words(done.status).toLowerCase()}.`;
      },
      { name: `Disburse ${name}` },
    );
  }
  return "";
}

async function report(body) {
  const now = new Date();
  const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, "0")}`;
  const shown = h("div");
  const chooser = form({
    label: "Choose a month",
    class: "filters",
    submitLabel: "Show the report",
    fields: [{ name: "month", label: "Month", type: "month", value: month, hint: "YYYY-MM" }],
    onSubmit: async (v) => loading(shown, () => reportOf(v.month)),
  });
  const csv = actionButton("Download as CSV", async () => {
    const chosen = chooser.values().month;
    const size = await download(
      "/banker/reports/monthly",
      { month: chosen, format: "csv" },
      `report-${chosen}.csv`,
    );
    return `Downloaded (${size} bytes).`;
  });
  replace(body, chooser.element, h("p", {}, csv), shown);
  await loading(shown, () => reportOf(month));
}

async function reportOf(month) {
  const r = await get("/banker/reports/monthly", { month });
  const currency = r.currency || "";
  return h(
    "div",
    { class: "report" },
    section(
      `Customers in ${r.month}`,
      summary([
        ["New", String(r.customers.new)],
        ["Total", String(r.customers.total)],
        ["Active", String(r.customers.active)],
      ]),
    ),
    section(
      "Sign-ins",
      summary([
        ["Succeeded", String(r.logins.success)],
        ["Failed", String(r.logins.failure)],
        ["Locked out", String(r.logins.locked)],
      ]),
    ),
    section(
      "Movements",
      table({
        caption: `Movements in ${r.month}`,
        columns: [
          { label: "Type", value: ([type]) => words(type) },
          { label: "Count", class: "num", value: ([, m]) => String(m.count) },
          { label: "Volume", class: "num", value: ([, m]) => money(m.volume, currency) },
        ],
        items: Object.entries(r.movements),
        empty: "No movements.",
      }),
    ),
    section(
      "Reviews and loans",
      summary([
        ["Reviews opened", String(r.reviews_opened)],
        ["Loans disbursed", String(r.loans.disbursed)],
        ["Loans outstanding", money(r.loans.outstanding, currency)],
      ]),
    ),
  );
}

async function ledger(body) {
  const results = h("div", { "aria-live": "polite" });
  const run = async () => {
    const [check, trial] = await Promise.all([
      get("/banker/ledger/check"),
      get("/banker/ledger/summary"),
    ]);
    replace(
      results,
      section(
        "Check",
        notice(
          check.ok && check.balanced
            ? "The ledger checks out: every balance matches its journal and every movement balances."
            : "The ledger does not check out: see the problems below.",
          check.ok && check.balanced ? "success" : "warning",
        ),
        summary([
          ["Balances match the journal", check.ok ? "Yes" : "No"],
          ["Every movement balances", check.balanced ? "Yes" : "No"],
          ["Accounts", String(check.accounts)],
          ["Journal entries", String(check.entries)],
          ["Transfers", String(check.transfers)],
          ["Customer balances", money(check.total_balance, check.currency)],
        ]),
        check.problems.length
          ? table({
              caption: "Problems",
              columns: [
                { label: "Code", value: (p) => p.code },
                { label: "Detail", value: (p) => p.detail },
                { label: "Account", value: (p) => p.account_number || "" },
              ],
              items: check.problems,
            })
          : null,
      ),
      section(
        "Trial balance",
        table({
          caption: "Trial balance by side",
          columns: [
            { label: "Side", value: (row) => row.name },
            { label: "Balance", class: "num", value: (row) => money(row.balance, trial.currency) },
          ],
          items: [
            { name: "Customers (all their accounts)", balance: trial.customer_total },
            ...trial.system_accounts.map((s) => ({
              name: `Bank: ${words(s.name)}`,
              balance: s.balance,
            })),
            { name: "Total", balance: trial.total },
          ],
        }),
      ),
    );
    return "Checked just now.";
  };
  replace(
    body,
    h("p", {}, actionButton("Check the ledger again", run, { kind: "primary" })),
    results,
  );
  try {
    await run();
  } catch (error) {
    replace(results, problemBox(error));
  }
}

async function audit(body) {
  const verify = h("div", { "aria-live": "polite" });
  const check = actionButton("Verify the chain", async () => {
    const v = await get("/audit/verify");
    replace(
      verify,
      notice(
        v.valid
          ? `The audit log is intact: ${v.entries} entries, each chained to the one before.`
          : `The audit log is broken at entry ${v.first_bad_id || v.first_bad_seal}.`,
        v.valid ? "success" : "warning",
      ),
    );
  });
  const host = h("div");
  replace(body, h("p", {}, check), verify, host);
  await filtered(host, {
    label: "Filter the audit log",
    caption: "Audit log",
    empty: "No entries match.",
    path: "/audit/events",
    fields: [
      { name: "actor", label: "Who (username)" },
      {
        name: "action",
        label: "Action",
        hint: "For example login_failure, transfer, account_status",
      },
      { name: "from", label: "From", type: "date" },
      { name: "to", label: "To", type: "date" },
    ],
    columns: [
      { label: "When", value: (e) => when(e.at) },
      { label: "Who", value: (e) => e.actor || "system" },
      { label: "Action", value: (e) => words(e.action) },
      { label: "Target", value: (e) => e.target || "" },
      { label: "Address", value: (e) => e.ip || "" },
      { label: "Details", value: (e) => detailsOf(e.details) },
    ],
  });
}

function detailsOf(details) {
  if (!details) return "";
  return Object.entries(details)
    .map(([name, value]) => `${name}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join("; ");
}

export const routes = [
  { path: "/app/staff", title: "Staff", roles: STAFF, redirect: "/app/staff/accounts" },
  { path: "/app/staff/accounts", title: "Accounts", roles: STAFF, render: accounts },
  { path: "/app/staff/customers", title: "Customers", roles: STAFF, render: customers },
  { path: "/app/staff/transactions", title: "Transactions", roles: STAFF, render: transactions },
  { path: "/app/staff/approvals", title: "Approvals queue", roles: STAFF, render: approvals },
  { path: "/app/staff/reviews", title: "Review queue", roles: STAFF, render: reviews },
  { path: "/app/staff/loans", title: "Loans queue", roles: STAFF, render: loans },
  { path: "/app/staff/report", title: "Monthly report", roles: STAFF, render: report },
  { path: "/app/staff/ledger", title: "Ledger check", roles: STAFF, render: ledger },
  { path: "/app/staff/audit", title: "Audit log", roles: STAFF, render: audit },
];
