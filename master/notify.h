/*
 * notify.h: telling the service manager (systemd, Type=notify) what the
 * master is doing, through the datagram protocol of sd_notify(3).
 */
#ifndef PORTICO_NOTIFY_H
#define PORTICO_NOTIFY_H

/*
 * Send one message (newline-separated "KEY=value" assignments) to the
 * socket named by $NOTIFY_SOCKET.  A no-op returning 0 when the variable
 * is unset or empty; -1 when the message could not be sent (the caller
 * may ignore it: the service manager is told, not asked).
 */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* READY=1 with a STATUS= line. */
void	notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC= the time now, as systemd wants it. */
void	notify_reloading(void);
/* STOPPING=1 with a STATUS= line. */
void	notify_stopping(const char *status);

#endif /* PORTICO_NOTIFY_H */
