// The front end's entry point: the page's frame, the navigation and the router.
//
// One HTML page serves every /app/ path; this module shows the screen the
// path names, and moves between screens with the History API (no reload, so
// the session, which lives in memory, survives moving around).

import { currentUser, onSessionChange, signOut, takeEndReason } from "./api.js";
import { h, replace } from "./dom.js";
import { takeFlash, setFlash } from "./flash.js";
import { notice, problemBox } from "./ui.js";
import * as auth from "./screens/auth.js";
import * as customer from "./screens/customer.js";
import * as goals from "./screens/goals.js";
import * as payees from "./screens/payees.js";
import * as scheduled from "./screens/scheduled.js";
import * as loans from "./screens/loans.js";
import * as settings from "./screens/settings.js";
import * as staff from "./screens/staff.js";

const ROUTES = [
  ...auth.routes,
  ...customer.routes,
  ...goals.routes,
  ...payees.routes,
  ...scheduled.routes,
  ...loans.routes,
  ...settings.routes,
  ...staff.routes,
];
const STAFF = ["banker", "auditor"];

// Navigation per role: [heading, [[path, label], ...]].
const NAV = {
  customer: [
    [
      "Money",
      [
        ["/app/", "Overview"],
        ["/app/history", "History"],
        ["/app/deposit", "Deposit"],
        ["/app/withdraw", "Withdraw"],
        ["/app/transfer", "Transfer"],
      ],
    ],
    [
      "Plan",
      [
        ["/app/goals", "Savings goals"],
        ["/app/payees", "Payees"],
        ["/app/scheduled", "Scheduled transfers"],
        ["/app/statements", "Statements"],
        ["/app/loans", "Loans"],
        ["/app/approvals", "Approvals"],
      ],
    ],
    [
      "You",
      [
        ["/app/notifications", "Notifications"],
        ["/app/settings", "Profile and security"],
      ],
    ],
  ],
  staff: [
    [
      "Customers",
      [
        ["/app/staff/accounts", "Accounts"],
        ["/app/staff/customers", "Customers"],
        ["/app/staff/transactions", "Transactions"],
      ],
    ],
    [
      "Queues",
      [
        ["/app/staff/approvals", "Approvals"],
        ["/app/staff/reviews", "Reviews"],
        ["/app/staff/loans", "Loans"],
      ],
    ],
    [
      "Books",
      [
        ["/app/staff/report", "Monthly report"],
        ["/app/staff/ledger", "Ledger check"],
        ["/app/staff/audit", "Audit log"],
      ],
    ],
    ["You", [["/app/settings", "Profile and security"]]],
  ],
};

const root = document.getElementById("root");
const main = h("main", { id: "main", tabindex: "-1" });
const nav = h("nav", { id: "nav", "aria-label": "Main" });
const who = h("p", { class: "who" });
const menuButton = h("button", {
  type: "button",
  class: "secondary menu-button",
  "aria-expanded": "false",
  "aria-controls": "nav",
  text: "Menu",
});
const signOutButton = h("button", {
  type: "button",
  class: "secondary sign-out",
  text: "Sign out",
});
let wanted = null; // where a signed-out visitor was going

function frame() {
  replace(
    root,
    h("a", { class: "skip-link", href: "#main", text: "Skip to content" }),
    h(
      "header",
      { class: "top" },
      h(
        "a",
        { class: "brand", href: "/app/" },
        h("img", { src: "/app/assets/icon.svg", alt: "", width: "28", height: "28" }),
        "Bank",
      ),
      who,
      menuButton,
      signOutButton,
    ),
    h("div", { class: "layout" }, nav, main),
  );
}

function home(user) {
  if (!user) return "/app/login";
  return STAFF.includes(user.role) ? "/app/staff/accounts" : "/app/";
}

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function match(path) {
  const clean = path === "/app" ? "/app/" : path.length > 5 ? path.replace(/\/+$/, "") : path;
  for (const route of ROUTES) {
    const names = [];
    const pattern = route.path.replace(/:([a-z_]+)/g, (_, name) => {
      names.push(name);
      return "([^/]+)";
    });
    const found = new RegExp(`^${pattern}$`).exec(clean);
    if (found) {
      const params = Object.fromEntries(names.map((name, i) => [name, decoded(found[i + 1])]));
      return { route, params };
    }
  }
  return null;
}

function renderNav(user) {
  const groups = user ? NAV[STAFF.includes(user.role) ? "staff" : "customer"] : [];
  replace(
    nav,
    groups.map(([heading, links]) =>
      h(
        "div",
        { class: "nav-group" },
        h("h2", { text: heading }),
        h(
          "ul",
          {},
          links.map(([href, label]) => h("li", {}, h("a", { href, text: label }))),
        ),
      ),
    ),
  );
  nav.hidden = !user;
  menuButton.hidden = !user;
  signOutButton.hidden = !user;
  replace(
    who,
    user
      ? [
          h("span", { class: "visually-hidden", text: "Signed in as " }),
          `${user.full_name || user.username} (${user.role})`,
        ]
      : "",
  );
  markCurrent();
}

function markCurrent() {
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === (location.pathname === "/app" ? "/app/" : location.pathname))
      link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

/** Go to ``path`` (an /app/ path) without reloading the page. */
export function navigate(path, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

async function render() {
  const user = currentUser();
  const found = match(location.pathname);
  document.body.classList.remove("menu-open");
  menuButton.setAttribute("aria-expanded", "false");
  if (!found) {
    show(
      { title: "Not found" },
      h(
        "p",
        {},
        "There is no such page. ",
        h("a", { href: home(user), text: "Go to the start page" }),
      ),
    );
    return;
  }
  const { route, params } = found;
  if (route.roles && !user) {
    wanted = location.pathname;
    navigate("/app/login", { replaceState: true });
    return;
  }
  if (route.public && user) {
    navigate(home(user), { replaceState: true });
    return;
  }
  if (route.roles && !route.roles.includes(user.role)) {
    navigate(home(user), { replaceState: true });
    return;
  }
  if (route.redirect) {
    navigate(route.redirect, { replaceState: true });
    return;
  }
  const body = h("div", { class: "screen-body", "aria-busy": "true" });
  show(route, body);
  try {
    await route.render(body, { params, user, navigate, signedIn });
  } catch (error) {
    replace(body, problemBox(error));
  } finally {
    body.removeAttribute("aria-busy");
  }
}

function show(route, body) {
  document.title = `${route.title} – Bank`;
  const heading = h("h1", { tabindex: "-1", text: route.title });
  const flash = takeFlash();
  replace(main, heading, flash ? notice(flash.text, flash.kind) : null, body);
  markCurrent();
  heading.focus();
}

/** After a successful sign-in: where the person was going, else their start page. */
function signedIn(user) {
  const target = wanted && match(wanted)?.route.roles?.includes(user.role) ? wanted : home(user);
  wanted = null;
  navigate(target, { replaceState: true });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey ||
    link.target ||
    link.hasAttribute("download")
  )
    return;
  const href = link.getAttribute("href");
  if (href === "#main") {
    event.preventDefault();
    main.focus();
    return;
  }
  if (!href.startsWith("/app")) return;
  event.preventDefault();
  if (href !== location.pathname) navigate(href);
  else render();
});

window.addEventListener("popstate", render);

menuButton.addEventListener("click", () => {
  const open = !document.body.classList.contains("menu-open");
  document.body.classList.toggle("menu-open", open);
  menuButton.setAttribute("aria-expanded", open ? "true" : "false");
  if (open) nav.querySelector("a")?.focus();
});

signOutButton.addEventListener("click", async () => {
  signOutButton.disabled = true;
  await signOut();
  signOutButton.disabled = false;
});

onSessionChange((user) => {
  renderNav(user);
  if (!user) {
    const reason = takeEndReason();
    setFlash(reason ? `You were signed out: ${reason}` : "You are signed out.", "info");
    navigate("/app/login", { replaceState: true });
  }
});

// Nothing fails silently: an error no screen caught is shown on the screen.
function unexpected(error) {
  const shown = problemBox(error instanceof Error ? error : new Error(String(error)));
  main.querySelector("h1")?.after(shown);
}
window.addEventListener("error", (event) => unexpected(event.error || event.message));
window.addEventListener("unhandledrejection", (event) => unexpected(event.reason));

frame();
renderNav(null);
render();
