// A supervisor's re-check list: decided items waiting for a second look (every suspicious
// verdict and a share of the clear ones). Opening one shows it like a review, without a lease,
// and its first verdict among the item's verdicts.
"use strict";

import { el, scoreText, vehicleText } from "./dom.js";
import { localTime } from "./time.js";

export class RecheckList {
  /** `els`: {rows, empty}; `open(id)` opens one item. */
  constructor(api, els, open) {
    this.api = api;
    this.els = els;
    this.open = open;
  }

  async refresh() {
    let body;
    try {
      body = await this.api.get("/rechecks");
    } catch (err) {
      this.els.rows.replaceChildren(el("tr", "", `The re-checks could not be read: ${err.message}`));
      return;
    }
    const items = Array.isArray(body) ? body : body.items;
    this.els.rows.replaceChildren(...items.map((item) => this.row(item)));
    this.els.empty.hidden = items.length > 0;
  }

  row(item) {
    const tr = el("tr", item.flagged ? "flagged" : "");
    tr.dataset.item = String(item.id);
    const open = el("button", "plain", "Open");
    open.type = "button";
    open.addEventListener("click", () => this.open(item.id));
    const cell = el("td");
    cell.append(open);
    tr.append(el("td", "", item.lane), el("td", "", vehicleText(item)), el("td", item.flagged ? "flag" : "", item.flagged ? "flagged" : ""),
      el("td", "num", scoreText(item.score)), el("td", "", localTime(item.created_at)), cell);
    return tr;
  }
}
