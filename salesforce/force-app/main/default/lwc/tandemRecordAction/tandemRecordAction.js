// The Tandem quick action: the actions the record's object offers (from Apex), each one call
// to Tandem through the invocable actions; the answer is shown in the action's window.
import { LightningElement, api } from 'lwc';
import { CloseActionScreenEvent } from 'lightning/actions';
import actionsFor from '@salesforce/apex/TandemRecordActionController.actionsFor';
import run from '@salesforce/apex/TandemRecordActionController.run';

const LABELS = {
    sync: 'Sync to billing',
    open: 'Open in billing',
    compare: 'Compare with billing',
    invoices: 'Update invoices',
    show: 'Show work order',
    retry: 'Retry',
    restart: 'Restart',
    dismiss: 'Dismiss failed task'
};

function errorText(error) {
    if (error && error.body && typeof error.body.message === 'string') return error.body.message;
    return (error && error.message) || String(error);
}

export default class TandemRecordAction extends LightningElement {
    _recordId;
    actions = [];
    loading = true;
    busy = false;
    error;
    result;
    reason = '';

    // Quick actions set recordId after the component is created: load then.
    @api
    get recordId() {
        return this._recordId;
    }
    set recordId(value) {
        this._recordId = value;
        if (value) this.load();
    }

    async load() {
        this.loading = true;
        try {
            const names = await actionsFor({ recordId: this._recordId });
            this.actions = names.map((name) => ({ name, label: LABELS[name] || name }));
            this.error = names.length ? undefined : 'Tandem has no action for this record.';
        } catch (e) {
            this.error = errorText(e);
        } finally {
            this.loading = false;
        }
    }

    get hasResult() {
        return Boolean(this.result);
    }
    get resultClass() {
        return this.result && this.result.success ? 'slds-text-color_success' : 'slds-text-color_error';
    }
    get offersDismiss() {
        return this.actions.some((a) => a.name === 'dismiss');
    }

    handleReason(event) {
        this.reason = event.target.value || '';
    }

    async handleAction(event) {
        const action = event.target.dataset.action;
        this.busy = true;
        try {
            this.result = await run({ recordId: this._recordId, action, reason: this.reason });
            if (action === 'open' && this.result.success && this.result.url) {
                window.open(this.result.url, '_blank', 'noopener');
            }
        } catch (e) {
            this.result = { success: false, message: errorText(e) };
        } finally {
            this.busy = false;
        }
    }

    handleClose() {
        this.dispatchEvent(new CloseActionScreenEvent());
    }
}
