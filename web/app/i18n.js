// Message catalogues (i18n/<lang>.json), one per language, each with every key (a unit test checks
// it). Arabic is right to left: <html dir="rtl">; the styles use logical properties only.
export const LANGUAGES = { en: { name: 'English', dir: 'ltr' }, fr: { name: 'Français', dir: 'ltr' },
  ar: { name: 'العربية', dir: 'rtl' } };
const CHOSEN = 'casetrail.language'; // the language chosen: not survivor data
let messages = {};
let fallback = {};
let lang = 'en';

async function catalogue(code) {
  const response = await fetch(`/app/i18n/${code}.json`);
  return response.json();
}

export function language() {
  return lang;
}

export async function setLanguage(code) {
  if (!LANGUAGES[code]) code = 'en';
  if (!Object.keys(fallback).length) fallback = await catalogue('en');
  messages = code === 'en' ? fallback : await catalogue(code);
  lang = code;
  document.documentElement.lang = code;
  document.documentElement.dir = LANGUAGES[code].dir;
  try { localStorage.setItem(CHOSEN, code); } catch { /* storage may be off */ }
}

export function initialLanguage() {
  let saved = null;
  try { saved = localStorage.getItem(CHOSEN); } catch { /* storage may be off */ }
  if (saved && LANGUAGES[saved]) return saved;
  const preferred = (navigator.language || 'en').slice(0, 2);
  return LANGUAGES[preferred] ? preferred : 'en';
}

// t('cases.count', {n: 3}): the message, with {name} placeholders filled.
export function t(key, values = {}) {
  const message = messages[key] ?? fallback[key] ?? key;
  return message.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

export function formatDate(value, withTime = false) {
  if (!value) return t('common.none');
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const options = withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' };
  return new Intl.DateTimeFormat(lang, options).format(date);
}
