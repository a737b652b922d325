// Messages as the page shows them, safely.
//
// claw's replies are Markdown: marked turns them into HTML, with one change: HTML written in a
// message (raw `<script>`, `<img onerror=…>`) is escaped, so it is shown as the text it is rather
// than silently dropped. DOMPurify then sanitizes the result (it removes what marked lets through
// on its own, such as `javascript:` links), and the page's Content-Security-Policy allows no
// inline script at all: three layers, each enough on its own for the cases above.
// People's messages are plain text: set as textContent, never parsed.

const { marked, DOMPurify } = window;

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

marked.use({
  gfm: true,
  breaks: true,
  renderer: {
    html(token) {
      return escapeHtml(token.text);
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

/** A reply of claw's as a DocumentFragment of sanitized HTML. */
export function renderMarkdown(text) {
  let html;
  try {
    html = marked.parse(text, { async: false });
  } catch {
    return renderPlain(text); // shown as it is rather than not at all
  }
  return DOMPurify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select"],
  });
}

/** A person's message: its text as it is, lines kept. */
export function renderPlain(text) {
  const body = document.createElement("p");
  body.className = "plain";
  body.textContent = text;
  return body;
}
