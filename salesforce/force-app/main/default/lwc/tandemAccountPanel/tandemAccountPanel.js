// The Tandem panel on the Account record page. Everything shown comes from Salesforce records
// (TandemAccountController.getPanel) or from Tandem through the Apex actions; nothing else is
// fetched. Each button runs one action, then the panel reloads what the action changed.
import { LightningElement, api } from 'lwc';
import { ShowToastEvent } from 'lightning/platformShowToastEvent';
import getPanel from '@salesforce/apex/TandemAccountController.getPanel';
import sync from '@salesforce/apex/TandemAccountController.sync';
import open from '@salesforce/apex/TandemAccountController.open';
import compare from '@salesforce/apex/TandemAccountController.compare';
import updateInvoices from '@salesforce/apex/TandemAccountController.updateInvoices';
import unlink from '@salesforce/apex/TandemAccountController.unlink';
import link from '@salesforce/apex/TandemAccountController.link';

// An Apex error's message for a person: AuraHandledException's body, else what there is.
export function errorText(error) {
    if (!error) return '';
    if (error.body && typeof error.body.message === 'string') return error.body.message;
    if (Array.isArray(error.body) && error.body.length) return error.body.map((e) => e.message).join('; ');
    return error.message || String(error);
}

export default class TandemAccountPanel extends LightningElement {
    @api recordId;
    panel;
    error;
    loading = true;
    busy = false;
    diffs;
    driftMessage;
    billingIdToLink = '';

    connectedCallback() {
        this.load();
    }

    async load() {
        this.loading = true;
        try {
            this.panel = await getPanel({ accountId: this.recordId });
            this.error = undefined;
        } catch (e) {
            this.panel = undefined;
            this.error = errorText(e);
        } finally {
            this.loading = false;
        }
    }

    get ready() {
        return !this.loading && !this.error && this.panel;
    }
    get account() {
        return (this.panel && this.panel.account) || {};
    }
    get linked() {
        return Boolean(this.account.Billing_Id__c);
    }
    get notLinked() {
        return !this.linked;
    }
    get linkLabel() {
        return this.linked ? `Linked to ${this.account.Billing_Id__c}` : 'Not linked to billing';
    }
    get syncStatus() {
        return this.account.Sync_Status__c || 'Never synced';
    }
    get lastSync() {
        return this.account.Last_Sync_Time__c || '';
    }
    get lastError() {
        return this.account.Last_Sync_Error__c || '';
    }
    get invoices() {
        return ((this.panel && this.panel.invoices) || []).map((i) => ({
            ...i,
            label: i.Name || i.Billing_Invoice_Id__c,
            pdf: i.Invoice_Pdf_Url__c || i.Hosted_Invoice_Url__c
        }));
    }
    get hasInvoices() {
        return this.invoices.length > 0;
    }
    get payments() {
        return (this.panel && this.panel.payments) || [];
    }
    get hasPayments() {
        return this.payments.length > 0;
    }
    get subscriptions() {
        return ((this.panel && this.panel.subscriptions) || []).map((s) => ({
            ...s,
            product: s.Product__r ? s.Product__r.Name : ''
        }));
    }
    get hasSubscriptions() {
        return this.subscriptions.length > 0;
    }
    get hasDiffs() {
        return Array.isArray(this.diffs) && this.diffs.length > 0;
    }
    get diffRows() {
        return (this.diffs || []).map((d, i) => ({ key: `${i}-${d.field}`, ...d }));
    }
    get linkDisabled() {
        return this.busy || !this.billingIdToLink.trim();
    }

    toast(title, message, variant) {
        this.dispatchEvent(new ShowToastEvent({ title, message, variant }));
    }

    // Runs one action; on success tells the user and reloads; on failure shows Tandem's reason.
    async run(label, action, reload = true) {
        this.busy = true;
        try {
            const result = await action();
            if (reload) await this.load();
            return result;
        } catch (e) {
            this.toast(`${label} failed`, errorText(e), 'error');
            return undefined;
        } finally {
            this.busy = false;
        }
    }

    async handleSync() {
        const r = await this.run('Sync', () => sync({ accountId: this.recordId }));
        if (r) this.toast('Synced to billing', `Billing ${r.billing_id}: ${r.outcome}`, 'success');
    }

    async handleOpen() {
        const r = await this.run('Open', () => open({ accountId: this.recordId }), false);
        if (r && r.url) window.open(r.url, '_blank', 'noopener');
    }

    async handleCompare() {
        const r = await this.run('Compare', () => compare({ accountId: this.recordId }), false);
        if (r) {
            this.diffs = r.diffs || [];
            this.driftMessage = r.message;
        }
    }

    async handleUpdateInvoices() {
        const r = await this.run('Update invoices', () => updateInvoices({ accountId: this.recordId }));
        if (r) this.toast('Invoices updated', `${r.invoices} invoices, ${r.payments} payments from billing`, 'success');
    }

    async handleUnlink() {
        const r = await this.run('Unlink', () => unlink({ accountId: this.recordId }));
        if (r) this.toast('Unlinked', `No longer linked to ${r.billing_id}`, 'success');
    }

    handleBillingIdChange(event) {
        this.billingIdToLink = event.target.value || '';
    }

    async handleLink() {
        const billingId = this.billingIdToLink.trim();
        const r = await this.run('Link', () => link({ accountId: this.recordId, billingId }));
        if (r) {
            this.billingIdToLink = '';
            this.toast('Linked', `Linked to ${r.billing_id}`, 'success');
        }
    }
}
