/* Haven's service worker: it only shows a notification when Haven sends one, and opens
   the chat when it is tapped. It caches nothing and sees no request of the page. What a
   notification says comes from Haven, which only ever sends "Haven has a message for
   you" in the page's language: never a message, never the case. */
"use strict";

self.addEventListener("push", function (event) {
  var text = event.data ? event.data.text() : "";
  /* One notification at a time, replaced by the next: nothing piles up on the screen. */
  event.waitUntil(self.registration.showNotification(text || "Haven", { tag: "haven" }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (pages) {
      for (var i = 0; i < pages.length; i++) {
        if ("focus" in pages[i]) { return pages[i].focus(); }
      }
      return self.clients.openWindow("/");
    })
  );
});
