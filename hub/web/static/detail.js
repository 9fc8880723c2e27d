// One review item beside its image: the passage (lane, vehicle, containers, times), the lane's
// reasons (those that hold the vehicle first), what each device said, the images to choose
// from, earlier verdicts (for a re-check) and earlier passes. Also which earlier image goes
// beside which image: the same device, else the same kind of device.
"use strict";

import { el, scoreText, vehicleText } from "./dom.js";
import { localTime } from "./time.js";

function section(title) {
  const s = el("section", "detail-part");
  s.append(el("h3", "", title));
  return s;
}

function reasonItem(r) {
  const li = el("li", r.holds ? "holds" : "informs");
  li.append(el("span", "reason-kind", r.holds ? "holds" : "informs"), el("span", "", ` ${r.words}`));
  li.title = r.code;
  return li;
}

/** The images of a passage, best first: the highest model score, then those with regions. */
export function orderedImages(passage) {
  return [...(passage.images || [])].sort((a, b) =>
    ((b.score ?? -1) - (a.score ?? -1)) || ((b.regions || []).length - (a.regions || []).length));
}

export function imageCaption(image) {
  const size = image.width && image.height ? ` ${image.width}×${image.height}` : "";
  return `${image.kind} ${image.device_id}${size}${image.label ? ` · ${image.label}` : ""}`;
}

/** For `image`, the same device's (else kind's) image of each earlier pass: [{caption, ref}]. */
export function earlierFor(image, earlier) {
  const out = [];
  for (const pass of earlier || []) {
    const images = pass.images || [];
    const match = images.find((i) => i.device_id === image.device_id && i.kind === image.kind)
      || images.find((i) => i.kind === image.kind);
    if (!match) continue;
    const caption = `earlier: ${localTime(pass.arrived_at)} · ${pass.lane} passage ${pass.passage_id}`;
    out.push({ caption, ref: { ...match, caption } });
  }
  return out;
}

/** Fill `root` with `detail` ({item, passage, verdicts, earlier}); `onImage(index)` picks an image. */
export function renderDetail(root, detail, images, onImage) {
  const { item, passage } = detail;
  const head = el("section", "detail-head");
  const title = el("h2", "", `${item.lane}${item.port ? ` · ${item.port}` : ""}`);
  if (item.flagged) title.append(el("span", "flag", " flagged"));
  head.append(title, el("p", "vehicle", vehicleText(passage)),
    el("p", "muted small", `passage ${passage.passage_id} · ${passage.state} · arrived ${localTime(passage.arrived_at)}`
      + ` · score ${scoreText(item.score)}`));
  if (passage.declaration_id) head.append(el("p", "muted small", `declaration ${passage.declaration_id}`));
  const parts = [head];

  const reasons = section("Reasons");
  const list = el("ul", "reasons");
  const sorted = [...(passage.reasons || [])].sort((a, b) => Number(b.holds) - Number(a.holds));
  list.append(...sorted.map(reasonItem));
  if (!sorted.length) list.append(el("li", "muted", "The lane gave no reason."));
  reasons.append(list);
  parts.push(reasons);

  const devices = section("What each device said");
  const dl = el("ul", "observations");
  for (const o of passage.observations || []) {
    const li = el("li");
    li.append(el("strong", "", `${o.kind} ${o.device_id}`), el("span", "", `: ${o.said}`),
      el("span", "muted small", ` ${localTime(o.at)}`));
    if (o.findings && o.findings.length) {
      const f = el("ul", "reasons");
      f.append(...o.findings.map(reasonItem));
      li.append(f);
    }
    dl.append(li);
  }
  if (!dl.children.length) dl.append(el("li", "muted", "No device reading came with the passage."));
  devices.append(dl);
  parts.push(devices);

  const pics = section(`Images (${images.length})`);
  const buttons = el("div", "image-list");
  images.forEach((image, i) => {
    const b = el("button", "image-choice");
    b.type = "button";
    b.dataset.index = String(i);
    b.append(el("span", "", imageCaption(image)),
      el("span", "muted small", ` score ${scoreText(image.score)} · ${(image.regions || []).length} regions`));
    b.addEventListener("click", () => onImage(i));
    buttons.append(b);
  });
  pics.append(buttons, el("p", "image-links small"));
  if (images.length > 1) pics.append(el("p", "muted small", "[ and ] for the previous and next image"));
  parts.push(pics);

  if (detail.verdicts && detail.verdicts.length) {
    const v = section("Verdicts");
    const ul = el("ul", "verdicts");
    for (const x of detail.verdicts) {
      ul.append(el("li", x.verdict, `${x.stage === "recheck" ? "re-check" : "review"}: ${x.verdict} by ${x.reviewer}`
        + ` at ${localTime(x.decided_at)}${x.note ? `: ${x.note}` : ""}`));
    }
    v.append(ul);
    parts.push(v);
  }

  const earlier = section(`Earlier passes (${(detail.earlier || []).length})`);
  const ul = el("ul", "earlier");
  for (const e of detail.earlier || []) {
    ul.append(el("li", "", `${localTime(e.arrived_at)} · ${e.lane} passage ${e.passage_id}`
      + ` · ${(e.images || []).length} images`));
  }
  if (!ul.children.length) ul.append(el("li", "muted", "None: the first pass of this vehicle and its containers."));
  else earlier.append(el("p", "muted small", "S shows the earlier pass beside this one"));
  earlier.append(ul);
  parts.push(earlier);
  root.replaceChildren(...parts);
}

/** Mark image `index` (`sha` of item `itemId`) as the one shown, with links to its original and DICOS export. */
export function markImage(root, index, itemId, sha) {
  for (const b of root.querySelectorAll(".image-choice")) b.setAttribute("aria-pressed", String(Number(b.dataset.index) === index));
  const links = root.querySelector(".image-links");
  if (!links) return;
  const original = el("a", "", "Original file");
  original.href = `/api/v1/images/${sha}`;
  original.target = "_blank";
  original.rel = "noopener";
  const dicos = el("a", "", "DICOS export");
  dicos.href = `/api/v1/review/${itemId}/dicos?image=${sha}`;
  links.replaceChildren(original, el("span", "muted", " · "), dicos);
}
