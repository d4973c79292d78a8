// SPDX-License-Identifier: ISC
// The status page's script: every 2 s it fetches /status and /events from
// the daemon that served the page and redraws the tables in place. Text
// from the daemon (names, details, errors) only ever reaches the page
// through textContent and setAttribute, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const EVENTS_N = 50;
let lastOk = 0;

function $(id) {
	return document.getElementById(id);
}

// an element with text (never parsed as HTML) and an optional class
function el(tag, text, cls) {
	const e = document.createElement(tag);
	if (text !== undefined && text !== null)
		e.textContent = String(text);
	if (cls)
		e.className = cls;
	return e;
}

function chip(text, cls) {
	return el("span", text, "chip " + (cls || ""));
}

// a table cell labelled with its column's heading (the phone layout
// shows it before the value); content is a string or a node
function cell(table, col, content, cls) {
	const td = el("td", null, cls);
	const th = table.tHead.rows[0].cells[col];
	td.setAttribute("data-label", th ? th.textContent : "");
	if (content instanceof Node)
		td.appendChild(content);
	else if (content !== undefined && content !== null)
		td.textContent = String(content);
	return td;
}

function row(table, cells) {
	const tr = document.createElement("tr");
	cells.forEach((c, i) => {
		if (c instanceof HTMLTableCellElement)
			tr.appendChild(c);
		else
			tr.appendChild(cell(table, i, c));
	});
	return tr;
}

function fill(id, rows, emptyId) {
	const t = $(id);
	t.tBodies[0].replaceChildren(...rows);
	if (emptyId) {
		$(emptyId).hidden = rows.length > 0;
		t.hidden = rows.length === 0;
	}
}

function frag(nodes) {
	const f = document.createDocumentFragment();
	nodes.forEach((n) => f.appendChild(n));
	return f;
}

function stateClass(s) {
	switch (s) {
	case "alive": case "up": case "closed": case "self":
		return "ok";
	case "suspect": case "half_open": case "asleep": case "maintenance":
	case "sleeping":
		return "warning";
	case "down": case "open":
		return "bad";
	default:
		return "";
	}
}

function ms(v) {
	if (typeof v !== "number")
		return "never";
	if (v < 1000)
		return v + " ms ago";
	if (v < 120000)
		return (v / 1000).toFixed(1) + " s ago";
	return Math.round(v / 60000) + " min ago";
}

function duration(v) {
	if (typeof v !== "number")
		return "?";
	const s = Math.floor(v / 1000);
	if (s < 120)
		return s + " s";
	if (s < 7200)
		return Math.floor(s / 60) + " min";
	if (s < 172800)
		return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
	return Math.floor(s / 86400) + " d";
}

function clock(t) {
	const d = new Date(t);
	if (isNaN(d.getTime()))
		return String(t);
	const now = new Date();
	const hms = d.toLocaleTimeString([], { hour12: false });
	if (d.toDateString() === now.toDateString())
		return hms;
	return d.toLocaleDateString() + " " + hms;
}

function skew(p) {
	const v = p.clock_skew_ms;
	if (typeof v !== "number")
		return chip("?");
	const text = (v > 0 ? "+" : "") + v + " ms";
	return p.clock_skew_warning ? chip(text + " ⚠", "warning") : el("span", text);
}

// peers.NAME.services: {SERVICE: "u"|"d"|"?", "!" added when its breaker
// is not closed}
function peerServices(sv) {
	if (!sv || typeof sv !== "object")
		return el("span", "—", "small");
	const names = Object.keys(sv).sort();
	if (names.length === 0)
		return el("span", "none", "small");
	return frag(names.map((n) => {
		const v = String(sv[n]);
		const st = { u: "up", d: "down" }[v[0]] || "unknown";
		const open = v.indexOf("!") >= 0;
		const c = chip(n + " " + st + (open ? " · breaker" : ""),
		    open ? "bad" : stateClass(st));
		c.title = open ? "circuit breaker not closed" : st;
		return c;
	}));
}

// this host's own services, in the same chips
function ownServices(services) {
	const sv = {};
	Object.keys(services || {}).forEach((n) => {
		const s = services[n];
		sv[n] = ({ up: "u", down: "d" }[s.state] || "?") +
		    (s.breaker && s.breaker !== "closed" ? "!" : "");
	});
	return peerServices(sv);
}

function actingText(name, p, acting) {
	const parts = [];
	const mine = acting && acting[name];
	if (mine)
		parts.push(chip("we act: " + mine.step +
		    (mine.attempt > 1 ? " (attempt " + mine.attempt + ")" : ""),
		    "warning"));
	else if (p.acting_peer)
		parts.push(chip(p.acting_peer + " acts", "warning"));
	if (parts.length === 0)
		return el("span", "—", "small");
	return frag(parts);
}

// a state chip, with the end of a hold (asleep, maintenance) after it
function stateCell(state, p) {
	const f = frag([chip(state, stateClass(state))]);
	if (typeof p.asleep_until === "number")
		f.appendChild(el("span", " until " + clock(p.asleep_until), "small"));
	if (typeof p.maintenance_until === "number")
		f.appendChild(state === "maintenance"
		    ? el("span", " until " + clock(p.maintenance_until), "small")
		    : chip("maintenance until " + clock(p.maintenance_until), "warning"));
	return f;
}

function renderMesh(st) {
	const t = $("mesh");
	const rows = [];
	const mine = {};
	if (st.maintenance && typeof st.maintenance[st.self] === "number")
		mine.maintenance_until = st.maintenance[st.self];
	const me = row(t, [st.self + " (this host)",
	    stateCell(st.sleeping ? "sleeping" : "this host", mine), "—",
	    st.incarnation, "—", "—", el("span", Object.keys(st.acting || {}).length
	        ? "for " + Object.keys(st.acting).join(", ") : "—", "small"),
	    ownServices(st.services)]);
	me.className = "self";
	me.setAttribute("data-peer", st.self);
	me.setAttribute("data-state", "self");
	rows.push(me);
	Object.keys(st.peers || {}).sort().forEach((name) => {
		const p = st.peers[name];
		const votes = typeof p.votes_down === "number" &&
		    typeof p.votes_needed === "number" && p.votes_down > 0
		    ? " (" + p.votes_down + "/" + p.votes_needed + " votes)" : "";
		const tr = row(t, [
			name,
			stateCell(p.state, p),
			cell(t, 2, ms(p.last_heard_ms), "num"),
			cell(t, 3, p.incarnation, "num"),
			cell(t, 4, skew(p), "num"),
			(p.confirmed_down ? "yes" : "no") + votes,
			actingText(name, p, st.acting),
			peerServices(p.services),
		]);
		tr.className = "peer";
		tr.setAttribute("data-peer", name);
		tr.setAttribute("data-state", String(p.state));
		rows.push(tr);
	});
	fill("mesh", rows);
}

function renderServices(services) {
	const t = $("services");
	const rows = Object.keys(services || {}).sort().map((name) => {
		const s = services[name];
		const br = frag([chip(s.breaker, stateClass(s.breaker))]);
		if (typeof s.half_open_at === "number")
			br.appendChild(el("span", " retry " + clock(s.half_open_at), "small"));
		const state = frag([chip(s.state, stateClass(s.state))]);
		if (s.restarting)
			state.appendChild(chip("restarting", "warning"));
		if (s.in_grace)
			state.appendChild(chip("grace"));
		if (s.maintenance)
			state.appendChild(chip("maintenance", "warning"));
		const tr = row(t, [
			name, state, br,
			cell(t, 3, (s.restarts || 0) + (s.restart_failures
			    ? " (" + s.restart_failures + " failed)" : ""), "num"),
			cell(t, 4, s.failures, "num"),
			s.probe,
			cell(t, 6, s.detail, "detail"),
		]);
		tr.setAttribute("data-service", name);
		tr.setAttribute("data-state", String(s.state));
		return tr;
	});
	fill("services", rows, "services-empty");
}

function list(a) {
	return Array.isArray(a) && a.length ? a.join(", ") : "—";
}

function renderOllama(o) {
	$("ollama-section").hidden = !o;
	if (!o)
		return;
	$("ollama-meta").textContent = "endpoint " + o.listen + " · " +
	    o.active + " active · " + o.requests + " requests";
	const t = $("ollama");
	const bs = o.backends || {};
	const rows = Object.keys(bs).sort((a, b) =>
	    (bs[a].priority || 0) - (bs[b].priority || 0) || a.localeCompare(b))
	    .map((name) => {
		const b = bs[name];
		const st = b.marked_down ? "marked down"
		    : b.reported_up ? "up" : "down";
		const who = frag([el("div", name + (b.local ? " (local)" : "")),
		    el("div", b.url, "small")]);
		const tr = row(t, [
			who,
			chip(st, b.marked_down ? "bad" : b.reported_up ? "ok" : "bad"),
			cell(t, 2, b.priority, "num"),
			cell(t, 3, (b.ok || 0) + " ok / " + (b.requests || 0), "num"),
			cell(t, 4, list(b.models), "detail"),
			cell(t, 5, list(b.loaded), "detail"),
			cell(t, 6, b.diagnostic || b.last_error || "", "detail"),
		]);
		tr.setAttribute("data-backend", name);
		return tr;
	});
	fill("ollama", rows);
}

function renderIncidents(inc) {
	const t = $("incidents");
	const rows = (Array.isArray(inc) ? inc : []).map((i) => row(t, [
		chip(i.kind, "bad"), i.subject, clock(i.since),
		cell(t, 3, i.count, "num"), cell(t, 4, i.detail, "detail"),
	]));
	fill("incidents", rows, "incidents-empty");
}

function eventClass(type) {
	const t = String(type);
	if (/down|fail|lost|error|open|refus|dead/.test(t))
		return "bad";
	if (/suspect|acting|restart|skew|warn/.test(t))
		return "warning";
	if (/alive|up|restored|ok|started|clos/.test(t))
		return "ok";
	return "";
}

function renderEvents(evs) {
	const t = $("events");
	const rows = (Array.isArray(evs) ? evs : []).slice().reverse().map((e) =>
	    row(t, [
		clock(e.ts), chip(e.type, eventClass(e.type)), e.peer || "—",
		cell(t, 3, e.detail, "detail"),
	    ]));
	fill("events", rows, "events-empty");
}

function renderHeader(st) {
	$("self").textContent = st.self;
	document.querySelectorAll(".self-name").forEach((e) => {
		e.textContent = st.self;
	});
	document.title = "peerwatch " + st.self;
	const q = $("quorum");
	q.textContent = st.has_quorum ? "quorum" : "no quorum";
	q.className = "badge " + (st.has_quorum ? "ok" : "bad");
	$("meta").textContent = "incarnation " + st.incarnation + " · up " +
	    duration(st.uptime_ms) + (st.config ? " · " + st.config : "") +
	    (st.distrust_self ? " · distrusts itself" : "");
	// maintenance holds in force anywhere in the mesh: {KEY: until}
	const mt = st.maintenance || {};
	$("holds").replaceChildren(...Object.keys(mt).sort().map((k) =>
	    chip("maintenance: " + k + " until " + clock(mt[k]), "warning")));
}

function setConn(ok, why) {
	const c = $("conn");
	if (ok) {
		lastOk = Date.now();
		c.textContent = "live · " + clock(lastOk);
		c.className = "badge ok";
	} else {
		c.textContent = "unreachable" + (lastOk ? " since " + clock(lastOk) : "") +
		    (why ? ": " + why : "");
		c.className = "badge bad";
	}
}

async function getJSON(path) {
	const r = await fetch(path, { cache: "no-store" });
	if (!r.ok)
		throw new Error(path + ": HTTP " + r.status);
	return r.json();
}

async function refresh() {
	try {
		const [st, evs] = await Promise.all([getJSON("/status"),
		    getJSON("/events?n=" + EVENTS_N)]);
		renderHeader(st);
		renderMesh(st);
		renderServices(st.services);
		renderOllama(st.ollama);
		renderIncidents(st.incidents);
		renderEvents(evs);
		setConn(true);
		document.body.setAttribute("data-ready", "yes");
	} catch (e) {
		setConn(false, e && e.message ? e.message : String(e));
	}
	setTimeout(refresh, REFRESH_MS);
}

refresh();
